"""Batches: one script over many files. Each item is an ordinary execution (own id, logs,
outputs) linked to its batch; one ``rgrid-batch`` flow run fans them out over the pool."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Account, Batch, Execution, utcnow
from rgrid_api.schemas import BatchCreate, BatchPlan, BatchPublic
from rgrid_api.services import executions
from rgrid_api.services.executions import FlowRunScheduler
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import Conflict, NotFound, RGridError
from rgrid_common.status import ExecutionStatus

RUNNING, FINISHED = "running", "finished"


def create_batch(session: Session, *, account: Account, request: BatchCreate,
                 settings: Settings, scheduler: FlowRunScheduler, store: ObjectStore) -> Batch:
    """Every item recorded ``queued``, then the batch flow run; nothing remains if any
    item is refused or Prefect cannot take the run."""
    runtime = executions.validated_runtime(request, settings)
    batch = Batch(account_id=account.id, script_name=request.script_name,
                  total=len(request.items), parallel=request.parallel,
                  fail_fast=request.fail_fast, status=RUNNING)
    return _record_and_schedule(session, batch, scheduler, [
        lambda index, item=item: executions.add_execution(
            session, store, account=account, spec=request, item=item, runtime=runtime,
            settings=settings, batch_id=batch.id, batch_index=index)
        for item in request.items])


def _schedule(session: Session, batch: Batch, scheduler: FlowRunScheduler) -> None:
    """The batch's flow run; if Prefect cannot take it, the batch and its items go."""
    try:
        batch.flow_run_id = scheduler.schedule_batch(batch_id=batch.id,
                                                     account_id=batch.account_id)
    except RGridError:
        session.execute(Execution.__table__.delete().where(Execution.batch_id == batch.id))
        session.delete(batch)
        session.commit()
        raise
    session.commit()


def retry_failed(session: Session, *, account: Account, batch_id: str, settings: Settings,
                 scheduler: FlowRunScheduler, store: ObjectStore, now: datetime) -> Batch:
    """A new batch of the items that did not succeed, each linked to the one it retries."""
    original = get_batch(session, account=account, batch_id=batch_id)
    if original.status != FINISHED:
        raise Conflict(f"Batch {batch_id!r} is still running.",
                       f"Wait for it (`rgrid watch {batch_id}`), then retry.")
    failed = [item for item in batch_executions(session, original)
              if item.status != ExecutionStatus.SUCCEEDED.value]
    if not failed:
        raise Conflict(f"Every item of batch {batch_id!r} succeeded; nothing to retry.")
    batch = Batch(account_id=account.id, script_name=original.script_name, total=len(failed),
                  parallel=original.parallel, fail_fast=original.fail_fast, status=RUNNING,
                  retry_of=original.id)
    return _record_and_schedule(session, batch, scheduler, [
        lambda index, item=item: executions.clone_execution(
            session, store, item, settings=settings, now=now, batch_id=batch.id,
            batch_index=index)
        for item in failed])


def _record_and_schedule(session: Session, batch: Batch, scheduler: FlowRunScheduler,
                         add_items: list) -> Batch:
    """The batch and every item (``add_items[i](i)`` adds item i), committed together or
    not at all, then the batch's flow run."""
    session.add(batch)
    session.flush()
    try:
        for index, add_item in enumerate(add_items):
            add_item(index)
    except RGridError:
        session.rollback()
        raise
    session.commit()
    _schedule(session, batch, scheduler)
    return batch


def get_batch(session: Session, *, account: Account, batch_id: str) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.id == batch_id,
                                               Batch.account_id == account.id))
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found.", "Check the id printed at its start.")
    return batch


def public_batch(session: Session, batch: Batch) -> BatchPublic:
    counts = dict(session.execute(
        select(Execution.status, func.count()).where(Execution.batch_id == batch.id)
        .group_by(Execution.status)).all())
    finished = session.scalars(select(Execution).where(
        Execution.batch_id == batch.id, Execution.started_at.is_not(None),
        Execution.finished_at.is_not(None))).all()
    durations = [executions.duration_seconds(item) for item in finished]
    return BatchPublic(
        id=batch.id, status=batch.status, script_name=batch.script_name, total=batch.total,
        parallel=batch.parallel, fail_fast=batch.fail_fast,
        counts={status.value: counts.get(status.value, 0) for status in ExecutionStatus},
        mean_duration_seconds=sum(durations) / len(durations) if durations else None,
        flow_run_id=batch.flow_run_id, retry_of=batch.retry_of, created_at=batch.created_at,
        finished_at=batch.finished_at)


def batch_executions(session: Session, batch: Batch) -> list[Execution]:
    return list(session.scalars(select(Execution).where(Execution.batch_id == batch.id)
                                .order_by(Execution.batch_index)))


# --- for the batch flow --------------------------------------------------------------------


def _batch_by_id(session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found.")
    return batch


def plan(session: Session, batch_id: str) -> BatchPlan:
    batch = _batch_by_id(session, batch_id)
    queued = session.scalars(select(Execution.id).where(
        Execution.batch_id == batch_id, Execution.status == ExecutionStatus.QUEUED.value)
        .order_by(Execution.batch_index)).all()
    return BatchPlan(batch_id=batch.id, parallel=batch.parallel, fail_fast=batch.fail_fast,
                     execution_ids=list(queued))


def cancel_queued(session: Session, batch_id: str, reason: str) -> int:
    """Fail-fast: what has not started will not."""
    _batch_by_id(session, batch_id)
    cancelled = session.execute(
        update(Execution).where(Execution.batch_id == batch_id,
                                Execution.status == ExecutionStatus.QUEUED.value)
        .values(status=ExecutionStatus.CANCELLED.value, error=reason, finished_at=utcnow())
    ).rowcount
    session.commit()
    return cancelled


def finish(session: Session, batch_id: str) -> None:
    batch = _batch_by_id(session, batch_id)
    if batch.status != FINISHED:
        batch.status, batch.finished_at = FINISHED, utcnow()
        session.commit()
