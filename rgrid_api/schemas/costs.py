"""What executions cost, as their owner sees it. Every amount is integer micro-euros."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none


class CostLine(BaseModel):
    key: str = Field(description="The day (UTC), script, batch or tag value.")
    executions: int
    compute_microseconds: int
    estimated_micros: int = Field(description="Of executions whose hours are still open.")
    final_micros: int = Field(description="Of executions whose every hour has closed.")


class CostReport(BaseModel):
    by: str
    since: datetime
    until: datetime
    rows: list[CostLine]
    total: CostLine

    _utc = field_validator("since", "until")(as_utc_or_none)


class CostEstimate(BaseModel):
    micros: int | None = Field(description="None: no earlier run to estimate from.")
    seconds_each: float | None
    basis: str | None = Field(description="Whose durations: this script's, by content or "
                                          "name, or the account's.")
    runs: int = Field(description="How many earlier runs the median is of.")


class SpendingLimit(BaseModel):
    month: str = Field(description="The calendar month (UTC) it applies to, e.g. 2026-11.")
    limit_micros: int | None = Field(description="None: no limit.")
    spent_micros: int
    warn_at_percent: int
    webhook_url: str | None


class SpendingLimitSet(BaseModel):
    limit_micros: int | None = Field(None, ge=0, le=2**62,
                                     description="None removes the limit.")
    webhook_url: str | None = Field(None, max_length=2000, pattern=r"^https?://",
                                    description="POSTed once a month past 80 %.")
