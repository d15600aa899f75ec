"""Batches as their owner sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none


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

    _utc = field_validator("created_at", "finished_at")(as_utc_or_none)
