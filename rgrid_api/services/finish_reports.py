"""A worker's finish report and, sent with it by a shard, the claim of the batch's next item:
one transaction, one commit.

The report and its claim were the largest part of the API's time in a batch (py-spy), in
two transactions; in one, there is one commit and one wake-up of the batch's streams an
item, not two (the API's CPU during a 200-item batch 5.2 → 4.45 s, README). On PostgreSQL the
batch's row is locked first, as every change of a batch's items takes it (``batches._lock``):
the report's UPDATE of its item before the lock could wait in a cycle with a cancel that
holds the batch and waits for the item.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.services import batches, worker_side
from rgrid_api.storage import ObjectStore
from rgrid_common.protocol import FinishRequest, JobSpec


def take_report(session: Session, *, execution_id: str, worker: str, request: FinishRequest,
                store: ObjectStore, settings: Settings, now: datetime) -> JobSpec | None:
    """Takes the report; with ``then_claim``, claims the shard's next item in the same
    transaction: that item's job, or None when none may start. A claim that cannot be made
    (no such batch, another worker's name) leaves the report untaken too, so the answer is
    never half of what was asked. The report of a batch's last item finishes the batch."""
    claim = request.then_claim
    claimant = claim and worker_side.claiming_as(worker, claim.worker)
    if claim:
        batches.lock_for_claims(session, claim.batch_id)
    execution = worker_side.finish_execution(
        session, execution_id=execution_id, worker=worker, request=request, store=store,
        settings=settings, now=now)
    job = claim and batches.claim_next(
        session, batch_id=claim.batch_id, flow_run_id=claim.flow_run_id, worker=claimant,
        settings=settings, store=store, now=now)
    session.commit()  # the report, where the claim found an item it held already
    if job:
        return job
    if execution.batch_id is not None:
        batches.finish_if_ended(session, execution.batch_id, now)
    return None

