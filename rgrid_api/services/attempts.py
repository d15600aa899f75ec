"""Automatic retries: an execution whose attempt failed for a reason not its own (its
worker was lost, storage or the container engine failed) is queued again, the same
execution with the next attempt number, up to ``max_attempts``. A script's own exit code,
OOM or timeout never comes here."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Batch, Execution
from rgrid_api.services import lifecycle
from rgrid_api.services.flow_run_starter import FlowRunStarter
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.services.logs import add_note
from rgrid_api.services.flow_runs import UNKNOWN
from rgrid_common.errors import Conflict, RGridError
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)
RUNNING = ExecutionStatus.RUNNING.value


def give_back(session: Session, execution: Execution, *, attempt: int, reason: str,
              settings: Settings, starter: FlowRunStarter, now: datetime) -> Execution:
    """Ends ``attempt`` of a running execution for ``reason``: queued again for the next
    attempt, or failed once the attempts are spent. A stale attempt gets 409."""
    history = [*execution.attempt_history,
               {"attempt": attempt, "worker": execution.worker, "reason": reason}]
    reason = f"attempt {attempt} on {execution.worker or 'a worker'}: {reason}"
    retry = attempt < settings.max_attempts
    if retry:
        moved = lifecycle.requeue(session, execution, attempt=attempt, now=now,
                                  retried_errors=[*execution.retried_errors, reason],
                                  attempt_history=history)
    else:
        moved = lifecycle.finish(session, execution, ExecutionStatus.FAILED, now=now,
                                 attempt=attempt, attempt_history=history,
                                 error=f"{reason} (gave up after {attempt} attempts)")
    if not moved:
        session.rollback()
        raise Conflict(f"Attempt {attempt} of execution {execution.id!r} is no longer "
                       f"current.")
    _note(session, execution, f"[rgrid] {reason}; " + (
        f"retrying (attempt {attempt + 1} of {settings.max_attempts})\n" if retry
        else f"giving up after {attempt} attempts\n"))
    session.commit()
    session.refresh(execution)
    if retry and execution.batch_id is None:  # a batch's shards claim it again themselves
        starter.wake(execution.id)
    log.info("execution %s: %s; %s", execution.id, reason,
             f"attempt {attempt + 1} queued" if retry else "failed")
    return execution


def sweep(session: Session, *, settings: Settings, scheduler: FlowRunScheduler,
          starter: FlowRunStarter, now: datetime,
          heard_since: datetime | None = None) -> list[str]:
    """Gives back running executions whose worker has been silent for
    ``lost_after_seconds`` or whose flow run ended; gives queued executions whose flow run
    ended before claiming them a new one; replaces coordinators that died. Returns the ids
    of the executions handled. Silence counts only from ``heard_since``, when this API
    could first hear the workers (its start, the end of its database's outage)."""
    cutoff = silence_cutoff(settings, now, heard_since)
    handled = replace_dead_flow_runs(session, settings=settings, scheduler=scheduler,
                                     starter=starter, now=now, silent_before=cutoff)
    if cutoff is None:
        return handled
    replace_silent_coordinators(session, scheduler=scheduler, silent_before=cutoff)
    lost = session.scalars(select(Execution).where(
        Execution.status == RUNNING,
        func.coalesce(Execution.heartbeat_at, Execution.started_at) < cutoff)).all()
    for execution in lost:
        flow_run_id, worker = execution.claimed_by, execution.worker
        try:
            give_back(session, execution, attempt=execution.attempt, settings=settings,
                      starter=starter, reason="the worker stopped responding", now=now)
        except Conflict:  # it reported in the meantime
            session.rollback()
            continue
        handled.append(execution.id)
        _mark_crashed(scheduler, flow_run_id, f"its worker {worker} stopped responding")
    return handled


def silence_cutoff(settings: Settings, now: datetime,
                   heard_since: datetime | None) -> datetime | None:
    """What was last heard before this is silent for ``lost_after_seconds``; None while
    the API has not been able to hear that long (restarted, or its database was away:
    the workers' reports were refused or waiting, not missing)."""
    cutoff = now - timedelta(seconds=settings.lost_after_seconds)
    if heard_since is not None and heard_since > cutoff:
        return None
    return cutoff


def replace_dead_flow_runs(session: Session, *, settings: Settings,
                           scheduler: FlowRunScheduler, starter: FlowRunStarter,
                           now: datetime, silent_before: datetime | None) -> list[str]:
    """Compares executions with their flow runs in Prefect. A queued execution (not a
    batch item: shards claim those) whose flow run crashed, failed or was cancelled before
    it claimed the execution, or that a worker took ``lost_after_seconds`` ago without
    starting (the worker died), gets a new flow run as its next attempt (from the
    starter), or fails once the attempts are spent, saying why in its log. A running
    execution whose flow run has ended is given back at once, without waiting for its
    heartbeats to stop. Returns the ids handled."""
    queued = session.scalars(select(Execution).where(
        Execution.status == ExecutionStatus.QUEUED.value, Execution.batch_id.is_(None))).all()
    running = session.scalars(select(Execution).where(
        Execution.status == RUNNING, Execution.claimed_by.is_not(None))).all()
    try:
        ended = scheduler.ended_flow_runs(
            [e.flow_run_id for e in queued if e.flow_run_id] + [e.claimed_by for e in running])
    except RGridError:
        log.exception("could not read the flow runs of queued and running executions")
        ended = {}
    orphaned = [execution.id for execution in queued if execution.flow_run_id in ended]
    stalled = {} if silent_before is None else _stalled_flow_runs(
        scheduler, [e.flow_run_id for e in queued if e.flow_run_id and e.id not in orphaned],
        taken_before=silent_before)
    for execution in queued:
        if execution.id in orphaned:
            _start_again(session, execution, f"its flow run ended before it started "
                                             f"({ended[execution.flow_run_id]})",
                         settings=settings, starter=starter, now=now)
        elif execution.flow_run_id in stalled:
            dead_run = execution.flow_run_id
            if _start_again(session, execution, f"its flow run was taken by a worker that "
                                                f"never started it ({stalled[dead_run]})",
                            settings=settings, starter=starter, now=now):
                orphaned.append(execution.id)
                _mark_crashed(scheduler, dead_run, "its worker took it and was not heard "
                                                   "from again")
    abandoned = [execution for execution in running
                 if ended.get(execution.claimed_by, UNKNOWN) != UNKNOWN]
    for execution in abandoned:  # a flow run Prefect forgot is left to the heartbeats
        try:
            give_back(session, execution, attempt=execution.attempt, settings=settings,
                      starter=starter, now=now, reason=f"its flow run ended while it ran "
                                                           f"({ended[execution.claimed_by]})")
        except Conflict:  # it finished or reported in the meantime
            session.rollback()
    return orphaned + [execution.id for execution in abandoned]


def _stalled_flow_runs(scheduler: FlowRunScheduler, flow_run_ids: list[str], *,
                       taken_before: datetime) -> dict[str, str]:
    if not flow_run_ids:
        return {}
    try:
        return scheduler.stalled_flow_runs(flow_run_ids, taken_before=taken_before)
    except RGridError:
        log.exception("could not read the flow runs of queued executions")
        return {}


def _start_again(session: Session, execution: Execution, reason: str, *, settings: Settings,
                 starter: FlowRunStarter, now: datetime) -> bool:
    """The queued ``execution``'s next attempt (or its failure, attempts spent), unless it
    was claimed or changed meanwhile; whether it was."""
    attempt, dead_run = execution.attempt, execution.flow_run_id
    reason = f"attempt {attempt}: {reason}"
    retry = attempt < settings.max_attempts
    same_attempt = (Execution.attempt == attempt, _same(Execution.flow_run_id, dead_run))
    if retry:  # still queued: the next attempt's flow run is made below
        changed = session.execute(
            update(Execution)
            .where(Execution.id == execution.id,
                   Execution.status == ExecutionStatus.QUEUED.value, *same_attempt)
            .values(attempt=attempt + 1, flow_run_id=None,
                    retried_errors=[*execution.retried_errors, reason])).rowcount
    else:
        changed = lifecycle.finish(
            session, execution, ExecutionStatus.FAILED, now=now,
            from_status=ExecutionStatus.QUEUED, also=same_attempt,
            error=f"{reason} (gave up after {attempt} attempts)",
            retried_errors=[*execution.retried_errors, reason])
    if not changed:  # claimed or changed meanwhile
        session.rollback()
        return False
    _note(session, execution, f"[rgrid] {reason}; " + (
        f"starting a new one (attempt {attempt + 1} of {settings.max_attempts})\n" if retry
        else f"giving up after {attempt} attempts\n"))
    session.commit()
    session.refresh(execution)
    log.warning("execution %s: %s; %s", execution.id, reason,
                "rescheduled" if retry else "failed")
    if retry:
        starter.wake(execution.id)
    return True


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _mark_crashed(scheduler: FlowRunScheduler, flow_run_id: str | None, message: str) -> None:
    """The flow run that held a lost attempt is dead: Prefect is told, so its UI and a
    batch's coordinator (which counts live shards) know."""
    if not flow_run_id:
        return
    try:
        scheduler.mark_crashed(flow_run_id, message)
    except RGridError:
        log.exception("could not mark flow run %s crashed", flow_run_id)


def replace_silent_coordinators(session: Session, *, scheduler: FlowRunScheduler,
                                silent_before: datetime) -> list[str]:
    """A running batch whose coordinating flow run has stopped reporting in (its worker
    died), or ended before it ever did, gets a new one, which picks up where it left off.
    One that never reported in and whose flow run lives is still waiting to start."""
    silent = list(session.scalars(select(Batch).where(
        Batch.status == "running", Batch.heartbeat_at < silent_before)).all())
    silent += _coordinators_ended_unheard(session, scheduler)
    for batch in silent:
        attempt = batch.coordinator_attempt + 1
        _mark_crashed(scheduler, batch.flow_run_id, "the batch's coordinator stopped reporting in")
        try:
            batch.flow_run_id = scheduler.schedule_batch(
                batch_id=batch.id, account_id=batch.account_id, attempt=attempt,
                tags=batch.tags)
        except RGridError:
            log.exception("could not replace the coordinator of %s", batch.id)
            continue
        log.warning("batch %s: coordinator silent since %s; started attempt %d", batch.id,
                    batch.heartbeat_at, attempt)
        batch.coordinator_attempt, batch.heartbeat_at = attempt, None
        session.commit()
    return [batch.id for batch in silent]


def _coordinators_ended_unheard(session: Session, scheduler: FlowRunScheduler) -> list[Batch]:
    waiting = session.scalars(select(Batch).where(
        Batch.status == "running", Batch.heartbeat_at.is_(None),
        Batch.flow_run_id.is_not(None))).all()
    try:
        ended = scheduler.ended_flow_runs([batch.flow_run_id for batch in waiting])
    except RGridError:
        log.exception("could not read the flow runs of waiting coordinators")
        return []
    return [batch for batch in waiting if batch.flow_run_id in ended]


def _note(session: Session, execution: Execution, text: str) -> None:
    add_note(session, execution.id, text)
