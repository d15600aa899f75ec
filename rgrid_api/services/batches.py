"""Batches: one script over many files. Each item is an ordinary execution (own id, logs,
outputs) linked to its batch; one ``rgrid-batch`` flow run fans them out over the pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import committed
from rgrid_api.core.events import touch_batch
from rgrid_api.models import Account, Batch, BatchItemCount, Execution
from rgrid_api.schemas import BatchCreate, BatchPublic, ItemOutputs
from rgrid_api.services import (artifacts, costs, executions, idempotency, lifecycle, paging,
                                worker_side)
from rgrid_api.services.flow_runs import FlowRunScheduler, started_or_undone
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import Conflict, NotFound
from rgrid_common.protocol import BatchPlan, JobSpec
from rgrid_common.status import BatchStatus, ExecutionStatus

RUNNING, FINISHED = BatchStatus.RUNNING.value, BatchStatus.FINISHED.value
QUEUED, RUNNING_ITEM = ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value


def submit_batch(session: Session, *, account: Account, request: BatchCreate,
                 settings: Settings, scheduler: FlowRunScheduler, store: ObjectStore,
                 now: datetime, idempotency_key: str | None = None) -> BatchPublic:
    """A user's batch, with what it is expected to cost (kept with it)."""
    checked = executions.checked_spec(request, settings)
    estimate = costs.batch_estimate(session, account=account,
                                    script_sha256=checked.script_sha256,
                                    script_name=request.script_name,
                                    count=len(request.items), settings=settings)
    batch = create_batch(session, account=account, request=request, settings=settings,
                         scheduler=scheduler, store=store, now=now,
                         idempotency_key=idempotency_key, estimate_micros=estimate.micros)
    return public_batch(session, batch).model_copy(update={"estimate": estimate})


def create_batch(session: Session, *, account: Account, request: BatchCreate,
                 settings: Settings, scheduler: FlowRunScheduler, store: ObjectStore,
                 now: datetime, schedule_id: str | None = None,
                 idempotency_key: str | None = None,
                 estimate_micros: int | None = None) -> Batch:
    """Every item recorded ``queued``, then the batch flow run; nothing remains if any
    item is refused or Prefect cannot take the run. A request sent again with its
    ``idempotency_key`` gets the first's batch."""
    checked = executions.checked_spec(request, settings)
    batch = Batch(account_id=account.id, script_name=request.script_name,
                  total=len(request.items), parallel=request.parallel,
                  fail_fast=request.fail_fast, status=RUNNING, schedule_id=schedule_id,
                  idempotency_key=idempotency_key, tags=request.metadata,
                  estimate_micros=estimate_micros)
    return idempotency.once(session, Batch, account_id=account.id, key=idempotency_key,
                            submit=lambda: _record_and_schedule(session, batch, scheduler, now, [
                                lambda index, item=item: executions.add_execution(
                                    session, store, account=account, checked=checked,
                                    item=item, settings=settings, now=now,
                                    batch_id=batch.id, batch_index=index)
                                for item in request.items]))


def _schedule(session: Session, batch: Batch, scheduler: FlowRunScheduler) -> None:
    """The batch's flow run; if Prefect cannot take it, the batch and its items go."""
    def undo() -> None:
        for table in (Execution, BatchItemCount):
            session.execute(table.__table__.delete().where(table.batch_id == batch.id))
        session.delete(batch)

    batch.flow_run_id = started_or_undone(
        session, lambda: scheduler.schedule_batch(batch_id=batch.id,
                                                  account_id=batch.account_id,
                                                  tags=batch.tags), undo)
    session.commit()


def retry_failed(session: Session, *, account: Account, batch_id: str, settings: Settings,
                 scheduler: FlowRunScheduler, store: ObjectStore, now: datetime) -> Batch:
    """A new batch of the items that did not succeed, each linked to the one it retries."""
    original = get_batch(session, account=account, batch_id=batch_id)
    if original.status == RUNNING:
        raise Conflict(f"Batch {batch_id!r} is still running.",
                       f"Wait for it (`rgrid watch {batch_id}`), then retry.")
    failed = [item for item in batch_executions(session, original)
              if item.status != ExecutionStatus.SUCCEEDED.value]
    if not failed:
        raise Conflict(f"Every item of batch {batch_id!r} succeeded; nothing to retry.")
    batch = Batch(account_id=account.id, script_name=original.script_name, total=len(failed),
                  parallel=original.parallel, fail_fast=original.fail_fast, status=RUNNING,
                  retry_of=original.id, tags=original.tags)
    return _record_and_schedule(session, batch, scheduler, now, [
        lambda index, item=item: executions.clone_execution(
            session, store, item, settings=settings, now=now, batch_id=batch.id,
            batch_index=index)
        for item in failed])


def _record_and_schedule(session: Session, batch: Batch, scheduler: FlowRunScheduler,
                         now: datetime, add_items: list) -> Batch:
    """The batch and every item (``add_items[i](i)`` adds item i), committed together or
    not at all, then the batch's flow run."""
    with committed(session):
        session.add(batch)
        session.flush()
        session.add_all(lifecycle.new_batch_counts(batch.id, len(add_items)))
        for index, add_item in enumerate(add_items):
            add_item(index)
    if not _counts(session, batch.id).get(QUEUED):  # the result cache answered all
        finish(session, batch.id, now)
        return batch
    _schedule(session, batch, scheduler)
    return batch


def get_batch(session: Session, *, account: Account, batch_id: str) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.id == batch_id,
                                               Batch.account_id == account.id))
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found.", "Check the id printed at its start.")
    return batch


def list_batches(session: Session, *, account: Account, limit: int,
                 cursor: str | None = None) -> tuple[list[Batch], str | None]:
    """The account's batches, newest first, a page at a time."""
    return paging.newest_first(session, select(Batch).where(Batch.account_id == account.id),
                               Batch, limit=limit, cursor=cursor)


@dataclass(frozen=True)
class BatchSummary:
    """A batch's line in a list: its items by status and what they cost so far."""

    batch: Batch
    counts: dict[str, int]
    cost_micros: int

    @property
    def ended(self) -> int:
        return ended_count(self.counts)


def ended_count(counts: dict[str, int]) -> int:
    """Of items counted by status, how many have ended."""
    return sum(n for status, n in counts.items() if ExecutionStatus(status).is_finished)


def summaries(session: Session, rows: list[Batch]) -> list[BatchSummary]:
    """Each batch's counts and cost, kept as its items move and are priced: six rows a
    batch of the page, in one query."""
    counts: dict[str, dict[str, int]] = {row.id: {} for row in rows}
    spent: dict[str, int] = {}
    for batch_id, status, n, cost in session.execute(
            select(BatchItemCount.batch_id, BatchItemCount.status, BatchItemCount.items,
                   BatchItemCount.cost_micros)
            .where(BatchItemCount.batch_id.in_(list(counts)))):
        if n:
            counts[batch_id][status] = n
        spent[batch_id] = spent.get(batch_id, 0) + cost
    return [BatchSummary(row, counts[row.id], spent.get(row.id, 0)) for row in rows]


def public_batch(session: Session, batch: Batch) -> BatchPublic:
    """Its counts, mean item time and cost, kept as its items move and are priced."""
    progress = batch_progress(session, batch)
    return BatchPublic(
        id=batch.id, status=batch.status, script_name=batch.script_name, total=batch.total,
        parallel=batch.parallel, fail_fast=batch.fail_fast,
        counts=progress.counts, mean_duration_seconds=progress.mean_duration_seconds,
        flow_run_id=batch.flow_run_id, retry_of=batch.retry_of,
        schedule_id=batch.schedule_id, created_at=batch.created_at,
        finished_at=batch.finished_at, cost_micros=progress.cost_micros,
        estimate_micros=batch.estimate_micros,
        cost_final=(batch.finished_at is not None
                    and progress.final_items == progress.priced_items))


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every status, 0 included
    mean_duration_seconds: float | None  # of the items that ran and ended
    cost_micros: int = 0  # what its items cost so far
    priced_items: int = 0  # how many of them have a cost
    final_items: int = 0  # how many a final one (every billing hour they ran in closed)


def batch_progress(session: Session, batch: Batch) -> Progress:
    """Its items by status, their mean time and cost: six rows, whatever its size."""
    rows = session.execute(select(BatchItemCount.status, BatchItemCount.items,
                                  BatchItemCount.ran_items, BatchItemCount.ran_seconds,
                                  BatchItemCount.cost_micros, BatchItemCount.priced_items,
                                  BatchItemCount.final_items)
                           .where(BatchItemCount.batch_id == batch.id)).all()
    counts = dict.fromkeys((status.value for status in ExecutionStatus), 0)
    counts.update({row.status: row.items for row in rows})
    ran = sum(row.ran_items for row in rows)
    seconds = sum(row.ran_seconds for row in rows)
    return Progress(counts=counts, mean_duration_seconds=round(seconds / ran, 3) if ran else None,
                    cost_micros=sum(row.cost_micros for row in rows),
                    priced_items=sum(row.priced_items for row in rows),
                    final_items=sum(row.final_items for row in rows))


def batch_executions(session: Session, batch: Batch,
                     finished_since: datetime | None = None) -> list[Execution]:
    """The items; with ``finished_since``, only those finished since then (a follower's
    cheap "what is new")."""
    query = select(Execution).where(Execution.batch_id == batch.id)
    if finished_since is not None:
        query = query.where(Execution.finished_at >= finished_since)
    return list(session.scalars(query.order_by(Execution.batch_index)))


def finished_outputs(session: Session, store: ObjectStore, *, batch: Batch,
                     finished_since: datetime | None, settings: Settings,
                     now: datetime) -> list[ItemOutputs]:
    """Each finished item's outputs (since ``finished_since``), small ones inline."""
    finished = [execution for execution in batch_executions(session, batch, finished_since)
                if execution.finished_at is not None]
    outputs = artifacts.public_outputs_of(session, store, executions=finished,
                                          settings=settings, now=now)
    return [ItemOutputs(execution_id=execution.id, batch_index=execution.batch_index,
                        finished_at=execution.finished_at, outputs=outputs[execution.id])
            for execution in finished]


NOT_SUCCEEDED = [ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value,
                 ExecutionStatus.CANCELLED.value]


def failures(session: Session, batch: Batch, *, limit: int) -> list[Execution]:
    """The items that ended without success, the latest first: what "retry failed" reruns."""
    return list(session.scalars(select(Execution).where(
        Execution.batch_id == batch.id, Execution.status.in_(NOT_SUCCEEDED))
        .order_by(Execution.finished_at.desc(), Execution.batch_index).limit(limit)))


def items_from(session: Session, batch: Batch, *, first: int, limit: int) -> list[Execution]:
    """``limit`` items in their batch order from index ``first``."""
    return list(session.scalars(select(Execution).where(
        Execution.batch_id == batch.id, Execution.batch_index >= first)
        .order_by(Execution.batch_index).limit(limit)))


# --- for the batch flow --------------------------------------------------------------------


def _batch_by_id(session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"Batch {batch_id!r} not found.")
    return batch


def report_in(session: Session, batch_id: str, *, settings: Settings,
              now: datetime) -> BatchPlan:
    """The coordinator is alive; what it needs to know."""
    batch = _batch_by_id(session, batch_id)
    batch.heartbeat_at = now
    session.commit()
    return plan(session, batch_id, settings=settings, now=now)


def plan(session: Session, batch_id: str, *, settings: Settings, now: datetime) -> BatchPlan:
    """The counts, then the batch's status read after them: a cancel (items and status in
    one commit) that emptied the counts is then always seen as a cancel, never as a
    batch that ended by itself."""
    batch = _batch_by_id(session, batch_id)
    counts = _counts(session, batch_id)
    session.refresh(batch)
    return BatchPlan(batch_id=batch.id, parallel=batch.parallel, fail_fast=batch.fail_fast,
                     queued=counts.get(QUEUED, 0), running=counts.get(RUNNING_ITEM, 0),
                     cancelled=batch.status == BatchStatus.CANCELLED.value,
                     active_shards=_active_shards(session, batch, now - timedelta(
                         seconds=settings.lost_after_seconds)),
                     lost_after_seconds=settings.lost_after_seconds)


def _active_shards(session: Session, batch: Batch, since: datetime) -> list[str]:
    """The shards running an item, or that finished one after ``since``: a live shard is
    never longer between items than the moment it takes to claim the next. Each part is
    read through an index that holds only what it asks for (what runs now, what the
    account finished lately), not through every item of the batch."""
    running = select(Execution.claimed_by).where(
        Execution.status == RUNNING_ITEM, Execution.batch_id == batch.id)
    finished_lately = select(Execution.claimed_by).where(
        Execution.account_id == batch.account_id, Execution.finished_at >= since,
        Execution.batch_id == batch.id, Execution.claimed_by.is_not(None))
    return sorted(set(session.scalars(running).all())
                  | set(session.scalars(finished_lately).all()))


CLAIM_RACES = 5


def _lock(session: Session, batch: Batch) -> None:
    """On PostgreSQL, the batch's row locked for this transaction. Whatever changes a
    batch's items and the batch takes the batch first: a cancel that took the items
    first and a shard's claim that took the batch first waited on each other."""
    lock_for_claims(session, batch.id)


def lock_for_claims(session: Session, batch_id: str) -> None:
    """``_lock`` by id, before a transaction's first change: for a finish report that
    claims its shard's next item in the same transaction (``finish_reports``)."""
    session.execute(select(Batch.id).where(Batch.id == batch_id).with_for_update())


def claim_next(session: Session, *, batch_id: str, flow_run_id: str, worker: str,
               settings: Settings, store: ObjectStore, now: datetime) -> JobSpec | None:
    """Claims the batch's first queued item for a shard, unless ``parallel`` items already
    run; None when nothing may start now.

    One UPDATE both picks and bounds: on SQLite a statement runs under the write lock; on
    PostgreSQL the batch row is locked first, so two shards cannot both take the last
    free place.
    """
    batch = _batch_by_id(session, batch_id)
    if (held := _held_by(session, batch.id, flow_run_id)) is not None:
        return worker_side.claimed_job(session, execution_id=held, flow_run_id=flow_run_id,
                                      settings=settings, store=store)
    for _ in range(CLAIM_RACES):
        _lock(session, batch)
        claimed = lifecycle.claim_next_in_batch(session, batch_id=batch.id,
                                                parallel=batch.parallel,
                                                flow_run_id=flow_run_id, worker=worker,
                                                now=now)
        session.commit()
        if claimed is not None:
            return worker_side.claimed_job(session, execution_id=claimed,
                                          flow_run_id=flow_run_id, settings=settings,
                                          store=store)
        if not _may_start_more(session, batch):
            return None
    return None


def _held_by(session: Session, batch_id: str, flow_run_id: str) -> str | None:
    """The item the shard ``flow_run_id`` runs already, if any. A shard runs one item at a
    time and claims the next once it has ended, so an item it still holds is one whose
    claim was taken but whose answer was lost (a 503 after the commit: the database or
    storage went away; the connection cut). The claim sent again gets that item, rather
    than a second one while the first stays claimed until the sweep runs it again (the
    chaos suite, PostgreSQL restarted)."""
    return session.scalar(select(Execution.id).where(
        Execution.batch_id == batch_id, Execution.status == RUNNING_ITEM,
        Execution.claimed_by == flow_run_id).limit(1))


def _may_start_more(session: Session, batch: Batch) -> bool:
    """Whether a claim that found nothing lost a race (try again) rather than found the
    batch drained or at its bound."""
    counts = _counts(session, batch.id)
    return counts.get(QUEUED, 0) > 0 and counts.get(RUNNING_ITEM, 0) < batch.parallel


def _counts(session: Session, batch_id: str) -> dict[str, int]:
    """The batch's items by status."""
    return dict(session.execute(select(BatchItemCount.status, BatchItemCount.items)
                                .where(BatchItemCount.batch_id == batch_id)).all())


def cancel_queued(session: Session, batch_id: str, reason: str, now: datetime) -> int:
    """Fail-fast: what has not started will not."""
    _batch_by_id(session, batch_id)
    cancelled = lifecycle.cancel_queued_in_batch(session, batch_id, now=now, reason=reason)
    session.commit()
    return cancelled


def finish_if_ended(session: Session, batch_id: str, now: datetime) -> None:
    """The report of a batch's last item to end finishes the batch too: its followers hear
    of its end at once, not at its coordinator's next look. Of two last items ending
    together, the one committed second sees both ended."""
    counts = _counts(session, batch_id)
    if not (counts.get(QUEUED, 0) or counts.get(RUNNING_ITEM, 0)):
        finish(session, batch_id, now)


def finish(session: Session, batch_id: str, now: datetime) -> None:
    """Every item has ended; a batch its owner cancelled stays ``cancelled``."""
    batch = _batch_by_id(session, batch_id)
    _lock(session, batch)
    session.refresh(batch)  # as it is now that no one else changes it
    if batch.status == RUNNING:
        batch.status, batch.finished_at = FINISHED, now
        touch_batch(session, batch.id)
        session.commit()


def cancel_batch(session: Session, *, account: Account, batch_id: str,
                 now: datetime) -> tuple[Batch, int]:
    """Its queued items never start, its running ones are stopped (their workers learn it
    at their next heartbeat), and it is ``cancelled``; with the number of items cancelled.
    Its coordinator sees it and ends its flow run Cancelled. A finished batch is left
    as it is (0 items)."""
    batch = get_batch(session, account=account, batch_id=batch_id)
    _lock(session, batch)
    session.refresh(batch)  # as it is now that no one else changes it
    if batch.status != RUNNING:
        return batch, 0
    items = executions.cancel_where(session, Execution.batch_id == batch.id, now=now)
    batch.status, batch.finished_at = BatchStatus.CANCELLED.value, now
    touch_batch(session, batch.id)
    session.commit()
    return batch, items
