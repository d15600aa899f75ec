"""Each worker's own token, issued by the control plane when it makes a node (the
autoscaler) or starts a worker (the single-machine default), revoked when the node goes.

A token names one worker. With it a node may claim work in its own name and report only
for the executions it claimed, so a compromised node cannot finish, log to or upload for
work running elsewhere (docs/SECURITY.md, H2).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rgrid_api.core.security import display_prefix, generate_worker_token, hash_api_key
from rgrid_api.models import WorkerToken
from rgrid_common.errors import Unauthorized


def issue(session: Session, *, worker: str, now: datetime) -> str:
    """A new token for ``worker``; the plain token is returned once, never stored. A worker
    may hold several (a restarted worker gets a new one while the old process drains)."""
    token = generate_worker_token()
    session.add(WorkerToken(worker=worker, token_hash=hash_api_key(token),
                            prefix=display_prefix(token), created_at=now))
    session.commit()
    return token


def revoke(session: Session, *, worker: str, now: datetime) -> int:
    """Every live token of ``worker`` stops working at once; how many there were."""
    result = session.execute(
        update(WorkerToken)
        .where(WorkerToken.worker == worker, WorkerToken.revoked_at.is_(None))
        .values(revoked_at=now))
    session.commit()
    return result.rowcount


def worker_for_token(session: Session, token: str) -> str:
    """The worker a live token was issued to."""
    worker = session.scalar(select(WorkerToken.worker).where(
        WorkerToken.token_hash == hash_api_key(token), WorkerToken.revoked_at.is_(None)))
    if worker is None:
        raise Unauthorized("The worker token is not valid (unknown or revoked).",
                           "Give the worker the token the control plane issued to its "
                           "node (RGRID_WORKER_TOKEN).")
    return worker
