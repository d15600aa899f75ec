"""Request and response bodies: ``XCreate`` comes in, ``XPublic`` goes out."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field, field_validator

from rgrid_common.status import ExecutionStatus


def _as_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AccountPublic(BaseModel):
    id: str
    name: str
    created_at: datetime


class AccountCreated(AccountPublic):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class ExecutionCreate(BaseModel):
    script_name: str = Field(min_length=1, max_length=255)
    script_content: str
    args: list[str] = Field(default_factory=list, max_length=1000)
    env: dict[str, str] = Field(default_factory=dict)
    runtime: str | None = None
    memory_mb: int | None = Field(None, gt=0)
    cpus: float | None = Field(None, gt=0)
    timeout_seconds: int | None = Field(None, gt=0)


class ExecutionPublic(BaseModel):
    id: str
    status: ExecutionStatus
    script_name: str
    runtime: str
    args: list[str]
    memory_mb: int
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

    _utc = field_validator("created_at", "started_at", "finished_at")(_as_utc)


class ExecutionList(BaseModel):
    executions: list[ExecutionPublic]


class LogChunkIn(BaseModel):
    seq: int = Field(ge=0)
    stream: str = Field(pattern=r"^(stdout|stderr)$")
    data: str


class LogChunkPublic(LogChunkIn):
    pass


class LogPage(BaseModel):
    chunks: list[LogChunkPublic]
    next_after: int = Field(description="Pass as ?after= to read what follows.")
    status: ExecutionStatus


class LogBatch(BaseModel):
    chunks: list[LogChunkIn] = Field(max_length=1000)


class ClaimRequest(BaseModel):
    flow_run_id: str = Field(min_length=1, max_length=64)
    worker: str = Field("", max_length=255)


class JobSpec(BaseModel):
    """Everything a flow needs to run one execution's container."""

    execution_id: str
    image: str
    script_name: str
    script_content: str
    command: list[str]
    env: dict[str, str]
    memory_mb: int
    cpus: float
    pids_limit: int
    timeout_seconds: int


class FinishRequest(BaseModel):
    status: ExecutionStatus
    exit_code: int | None = None
    error: str | None = Field(None, max_length=20_000)


class RuntimePublic(BaseModel):
    name: str
    image: str
    extensions: list[str]
    default: bool
