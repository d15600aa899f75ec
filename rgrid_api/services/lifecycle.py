"""The one place an execution's status changes.

Each move is one conditional UPDATE: it changes only a row whose status is one from which
``ALLOWED_TRANSITIONS`` lets it reach the new one (and whose attempt or claimant, where
given, is still the caller's). So whatever races — two flow runs claiming, a worker
finishing as its owner cancels, the sweep requeueing as a heartbeat lands — exactly one
wins, and the others learn it from the count of rows moved, not from an exception.

Nothing here commits: the caller adds what belongs with the move (log lines, outputs)
and commits once. Every move marks what it moved (``events.touch``), so the execution's
and its batch's live streams hear of it when the caller commits, and counts it for its
batch (``BatchItemCount``): the counts change in the same commit as the items, as its
last statements, in one order (batch, status), so no two transactions counting ever wait
on each other in a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import cache
from typing import Any

from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from rgrid_api.core.events import touch
from rgrid_api.models import BatchItemCount, Execution, as_utc
from rgrid_common.status import ExecutionStatus, can_transition, sources_of

QUEUED, RUNNING = ExecutionStatus.QUEUED, ExecutionStatus.RUNNING
_NOT_CLAIMED = {"claimed_by": None, "worker": None, "started_at": None, "heartbeat_at": None}
_COUNT_CHANGES = "rgrid_batch_item_count_changes"  # session.info: (batch, status) → change


@dataclass
class _CountChange:
    """What this transaction adds to one (batch, status) row of ``BatchItemCount``."""

    items: int = 0
    ran_items: int = 0
    ran_seconds: float = 0.0
    cost_micros: int = 0
    priced_items: int = 0
    final_items: int = 0

    def is_nothing(self) -> bool:
        return self == _CountChange()

    def parameters(self, batch_id: str, status: str) -> dict[str, Any]:
        """The bound values of ``_add_to_counts()`` that add this change to its row."""
        return {"row_batch_id": batch_id, "row_status": status,
                **{f"add_{field.name}": getattr(self, field.name) for field in fields(self)}}


@cache
def _add_to_counts():
    """One UPDATE of a (batch, status) row of the counts, each column plus a bound value,
    built once: run with every changed row's values at once (``_CountChange.parameters``).
    Built per change, as ORM statements, it was a quarter of the API's time in a shard's
    report that claims its next item (py-spy, 2026-12-07); now under a twentieth."""
    counts = BatchItemCount.__table__
    return (update(counts)
            .where(counts.c.batch_id == bindparam("row_batch_id"),
                   counts.c.status == bindparam("row_status"))
            .values({field.name: counts.c[field.name] + bindparam(f"add_{field.name}")
                     for field in fields(_CountChange)}))


def _moved(new: ExecutionStatus, now: datetime, values: dict[str, Any]) -> dict[str, Any]:
    """What a move to ``new`` writes besides ``values``: its status and its clock."""
    stamps: dict[str, Any] = {}
    if new == RUNNING:
        stamps = {"started_at": now, "heartbeat_at": now}
    elif new == QUEUED:
        stamps = dict(_NOT_CLAIMED)
    elif new.is_finished:
        stamps = {"finished_at": now, "finished_on": as_utc(now).astimezone(timezone.utc).date()}
    return {**stamps, **values, "status": new.value}


def _move(session: Session, new: ExecutionStatus, *conditions, now: datetime,
          execution: Execution | None = None,
          sources: tuple[ExecutionStatus, ...] | None = None, **values: Any) -> int:
    """Moves the executions matching ``conditions`` that are in one of ``sources`` (by
    default, every status from which they may reach ``new``); how many. ``execution``,
    when given and moved, holds the values written (sessions here keep their objects
    past a commit)."""
    written = _moved(new, now, values)
    moved = 0
    for source in sorted(sources or sources_of(new)):
        if not can_transition(source, new):
            continue
        statement = (update(Execution)
                     .where(Execution.status == source.value, *conditions)
                     .values(**written))
        moved += len(_touching(session, statement, source, new))
    if moved and execution is not None:
        for name, value in written.items():
            set_committed_value(execution, name, value)
    return moved


def _touching(session: Session, statement, source: ExecutionStatus,
              new: ExecutionStatus, params: dict[str, Any] | None = None) -> list[str]:
    """Runs an UPDATE of executions from ``source`` to ``new`` (``params``: the values of
    its bound parameters); the ids it moved, each marked as changed and counted for its
    batch."""
    rows = session.execute(statement.returning(Execution.id, Execution.batch_id,
                                               Execution.started_at, Execution.finished_at)
                           .execution_options(synchronize_session=False), params).all()
    changes = _changes(session)
    for execution_id, batch_id, started_at, finished_at in rows:
        touch(session, execution_id, batch_id)
        if batch_id is None:
            continue
        changes[(batch_id, source.value)].items -= 1
        arrived = changes[(batch_id, new.value)]
        arrived.items += 1
        if new.is_finished and started_at is not None and finished_at is not None:
            arrived.ran_items += 1
            arrived.ran_seconds += (as_utc(finished_at) - as_utc(started_at)).total_seconds()
    return [row[0] for row in rows]


def _changes(session: Session) -> defaultdict[tuple[str, str], _CountChange]:
    return session.info.setdefault(_COUNT_CHANGES, defaultdict(_CountChange))


def count_cost(session: Session, batch_id: str, status: str, *, micros: int, priced: int,
               final: int) -> None:
    """Changes what the (``batch_id``, ``status``) items are counted to cost, when this
    transaction commits, with its moves (``rgrid_api.services.costs`` prices them)."""
    change = _changes(session)[(batch_id, status)]
    change.cost_micros += micros
    change.priced_items += priced
    change.final_items += final


def new_batch_counts(batch_id: str, items: int) -> list[BatchItemCount]:
    """A new batch's counts, its ``items`` all ``queued``, for the caller to add."""
    return [BatchItemCount(batch_id=batch_id, status=status.value,
                           items=items if status == QUEUED else 0, ran_items=0,
                           ran_seconds=0.0, cost_micros=0, priced_items=0, final_items=0)
            for status in ExecutionStatus]


@event.listens_for(Session, "before_commit")
def _count_moves(session: Session) -> None:
    """The transaction's moves, counted for their batches last, in (batch, status) order."""
    changes = session.info.pop(_COUNT_CHANGES, None)
    if not changes:
        return
    session.flush()  # a batch made in this transaction has its counts' rows first
    rows = [change.parameters(batch_id, status)
            for (batch_id, status), change in sorted(changes.items())
            if not change.is_nothing()]
    if rows:
        session.execute(_add_to_counts(), rows)


@event.listens_for(Session, "after_soft_rollback")
def _forget_moves(session: Session, _previous) -> None:
    session.info.pop(_COUNT_CHANGES, None)


def _one(execution: Execution | str):
    return Execution.id == (execution if isinstance(execution, str) else execution.id)


def new_queued(**fields: Any) -> Execution:
    """A new execution, ``queued``: the status every execution starts in."""
    return Execution(status=QUEUED.value, **fields)


def claim(session: Session, execution_id: str, *, flow_run_id: str, worker: str,
          now: datetime) -> bool:
    """``queued → running`` for one flow run: the claim that makes it the only runner."""
    return bool(_move(session, RUNNING, _one(execution_id), sources=(QUEUED,), now=now,
                      claimed_by=flow_run_id, worker=worker))


def claim_next_in_batch(session: Session, *, batch_id: str, parallel: int, flow_run_id: str,
                        worker: str, now: datetime) -> str | None:
    """The batch's first queued item ``→ running`` for a shard, unless ``parallel`` items
    run already; its id, or None. One statement both picks and bounds."""
    values = _moved(RUNNING, now, {"claimed_by": flow_run_id, "worker": worker})
    claimed = _touching(session, _claim_next_statement(), QUEUED, RUNNING,
                        {"claim_batch": batch_id, "claim_parallel": parallel,
                         **{f"claim_{name}": value for name, value in values.items()}})
    return claimed[0] if claimed else None


@cache
def _claim_next_statement():
    """Built once, its values bound per claim: building it (two aliases, two subqueries)
    was ~3 ms of the API's CPU per claim, a batch's item each."""
    item, peer = aliased(Execution), aliased(Execution)
    batch = bindparam("claim_batch")
    first_queued = (select(item.id).where(item.batch_id == batch,
                                          item.status == QUEUED.value)
                    .order_by(item.batch_index).limit(1).scalar_subquery())
    running = (select(func.count(peer.id)).where(peer.batch_id == batch,
                                                 peer.status == RUNNING.value)
               .scalar_subquery())
    written = _moved(RUNNING, datetime.now(timezone.utc), {"claimed_by": "", "worker": ""})
    return (update(Execution)
            .where(Execution.id == first_queued, Execution.status == QUEUED.value,
                   running < bindparam("claim_parallel"))
            .values(**{name: bindparam(f"claim_{name}", type_=Execution.__table__.c[name].type)
                       for name in written}))


def requeue(session: Session, execution: Execution, *, attempt: int, now: datetime,
            **values: Any) -> bool:
    """``running → queued`` for the next attempt, if ``attempt`` is still the current one:
    its attempt failed for a reason not its own."""
    return bool(_move(session, QUEUED, _one(execution), Execution.attempt == attempt,
                      sources=(RUNNING,), now=now, execution=execution,
                      attempt=attempt + 1, flow_run_id=None, **values))


def finish(session: Session, execution: Execution, status: ExecutionStatus, *,
           now: datetime, attempt: int | None = None, from_status: ExecutionStatus = RUNNING,
           also: tuple = (), **values: Any) -> bool:
    """``from_status → status`` (a finished one), if ``attempt`` (when given) is current
    and the conditions ``also`` hold: a worker's report, attempts spent, or a result
    served from the cache."""
    if not status.is_finished:
        raise ValueError(f"{status.value} is not a finished status")
    conditions = [_one(execution), *also]
    if attempt is not None:
        conditions.append(Execution.attempt == attempt)
    return bool(_move(session, status, *conditions, sources=(from_status,), now=now,
                      execution=execution, **values))


def cancel(session: Session, *conditions, now: datetime, reason: str,
           sources: tuple[ExecutionStatus, ...] | None = None) -> list[str]:
    """Queued or running executions (or those of ``sources``) matching ``conditions``
    ``→ cancelled``; their ids. A running one keeps its claimant, so its worker may still
    report the outputs it wrote before it was stopped."""
    cancelled: list[str] = []
    written = _moved(ExecutionStatus.CANCELLED, now, {"error": reason})
    for source in sorted(sources or sources_of(ExecutionStatus.CANCELLED)):
        statement = (update(Execution).where(Execution.status == source.value, *conditions)
                     .values(**written))
        cancelled += _touching(session, statement, source, ExecutionStatus.CANCELLED)
    return cancelled


def cancel_queued_in_batch(session: Session, batch_id: str, *, now: datetime,
                           reason: str) -> int:
    """``queued → cancelled`` for a batch's items that have not started."""
    return len(cancel(session, Execution.batch_id == batch_id, sources=(QUEUED,), now=now,
                      reason=reason))
