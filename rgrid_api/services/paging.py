"""Newest-first pages over a table keyed by (created_at, id): the cursor is the last row's
pair, so a page costs the same however deep it is and rows added meanwhile do not shift
it."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from rgrid_api.models import as_utc
from rgrid_common.errors import InvalidInput


def newest_first(session: Session, query, model, *, limit: int,
                 cursor: str | None) -> tuple[list, str | None]:
    """A page of ``query``'s ``model`` rows, newest first, after ``cursor``; with the
    cursor of the next page (None on the last)."""
    if cursor is not None:
        created_at, row_id = _decode(cursor)
        query = query.where(or_(model.created_at < created_at,
                                and_(model.created_at == created_at, model.id < row_id)))
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc())
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _encode(rows[-1]) if more else None


def _encode(row) -> str:
    text = f"{as_utc(row.created_at).isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, row_id = text.partition("|")
        return datetime.fromisoformat(moment), row_id
    except ValueError as exc:
        raise InvalidInput("The cursor is not one this API gave.",
                           "Use the next_cursor of the previous page.") from exc
