"""Batches as their owner sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none
from rgrid_api.schemas.costs import CostEstimate


class BatchPublic(BaseModel):
    id: str
    status: str
    script_name: str
    total: int
    parallel: int
    fail_fast: bool
    counts: dict[str, int] = Field(description="Items by status.")
    mean_duration_seconds: float | None = None
    flow_run_id: str | None
    retry_of: str | None = None
    schedule_id: str | None = None
    created_at: datetime
    finished_at: datetime | None
    cost_micros: int = Field(0, description="Micro-euros: the sum of its items' costs.")
    cost_final: bool = Field(False, description="Whether every item's cost is final.")
    estimate_micros: int | None = Field(
        None, description="What it was expected to cost when it was submitted.")
    estimate: CostEstimate | None = Field(
        None, description="What it was expected to cost, given when it is submitted.")

    _utc = field_validator("created_at", "finished_at")(as_utc_or_none)
