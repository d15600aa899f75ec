"""What the API's response bodies share."""

from __future__ import annotations

from datetime import datetime

from rgrid_api.models import as_utc


def as_utc_or_none(value: datetime | None) -> datetime | None:
    """A time read back from the database, with its zone (SQLite drops it)."""
    return None if value is None else as_utc(value)
