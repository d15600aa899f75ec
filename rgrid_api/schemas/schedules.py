"""Schedules as their owner sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, field_validator

from rgrid_api.schemas.common import as_utc_or_none


class SchedulePublic(BaseModel):
    id: str
    cron: str | None
    every_seconds: int | None
    script_name: str
    files: int
    parallel: int
    deployment_id: str | None
    next_run_at: datetime | None = None
    created_at: datetime

    _utc = field_validator("created_at", "next_run_at")(as_utc_or_none)


class ScheduleList(BaseModel):
    schedules: list[SchedulePublic]
