"""Idempotency keys of submissions: a client that did not hear the answer (a timeout, a
dropped connection) sends the same request with the same key again, and gets what the
first one made instead of a second execution or batch. Keys are per account; the database
holds them unique, so two copies arriving at once make one row."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rgrid_api.models import Batch, Execution

Submitted = TypeVar("Submitted", Execution, Batch)


def earlier(session: Session, model: type[Submitted], *, account_id: str,
            key: str | None) -> Submitted | None:
    if key is None:
        return None
    return session.scalar(select(model).where(model.account_id == account_id,
                                              model.idempotency_key == key))


def once(session: Session, model: type[Submitted], *, account_id: str, key: str | None,
         submit: Callable[[], Submitted]) -> Submitted:
    """What an earlier request with ``key`` made, or ``submit()``'s new one. A copy that
    raced the first to the database finds the first's row once that is committed."""
    found = earlier(session, model, account_id=account_id, key=key)
    if found is not None:
        return found
    try:
        return submit()
    except IntegrityError:
        session.rollback()
        found = earlier(session, model, account_id=account_id, key=key)
        if found is None:
            raise
        return found
