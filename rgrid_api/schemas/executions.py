"""Executions as their owner sees them, their logs, and what cancel did."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none
from rgrid_common.protocol import LogChunkIn
from rgrid_common.status import ExecutionStatus


class AttemptRecord(BaseModel):
    attempt: int
    worker: str | None
    reason: str


class ExecutionPublic(BaseModel):
    id: str
    status: ExecutionStatus
    script_name: str
    runtime: str
    args: list[str]
    memory_mb: int
    disk_mb: int
    cpus: float
    timeout_seconds: int
    exit_code: int | None
    error: str | None
    flow_run_id: str | None
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None = None
    batch_id: str | None = None
    batch_index: int | None = None
    retry_of: str | None = None
    attempt: int = 1
    retried_errors: list[str] = Field(
        default_factory=list, description="Why each earlier attempt was retried.")
    cached_from: str | None = Field(
        None, description="The earlier execution whose result this one is (not run again).")
    dependency_cache: Literal["hit", "miss"] | None = Field(
        None, description="Whether the requirements' layer was reused or built.")
    notes: list[str] = Field(default_factory=list,
                             description="What the outcome says beside its status, such as "
                                         "outputs that could not be kept.")
    metadata: dict[str, str] = Field(default_factory=dict, validation_alias="tags",
                                     description="Its tags (`--metadata k=v`).")
    script_sha256: str | None = None
    image: str | None = Field(None, description="The runtime's image, by name.")
    image_id: str | None = Field(None, description="The image it ran, by content.")
    attempts: list[AttemptRecord] = Field(
        default_factory=list, validation_alias="attempt_history",
        description="Each attempt given back: its worker and why.")
    flow_run_url: str | None = Field(None, description="Its flow run in the Prefect UI.")
    cost_micros: int | None = Field(
        None, description="Micro-euros: an estimate once it ends, final once every billing "
                          "hour it ran in has closed.")
    cost_state: Literal["estimated", "final"] | None = None
    cost_basis: str | None = Field(
        None, description="What the cost was worked out from: the node's price and where "
                          "that came from (one execution's view only).")

    _utc = field_validator("created_at", "started_at", "finished_at")(as_utc_or_none)


class ExecutionList(BaseModel):
    executions: list[ExecutionPublic]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; "
                                                      "None on the last.")


class LogChunkPublic(LogChunkIn):
    pass


class LogPage(BaseModel):
    chunks: list[LogChunkPublic]
    next_after: int = Field(description="Pass as ?after= to read what follows.")
    status: ExecutionStatus


class CancelOutcome(BaseModel):
    """What ``rgrid cancel`` did to an execution or a batch."""

    id: str
    status: str = Field(description="Its status after the request.")
    cancelled: int = Field(description="Executions this request cancelled: 0 when it had "
                                       "finished already.")


class BatchRetry(BaseModel):
    batch_id: str
