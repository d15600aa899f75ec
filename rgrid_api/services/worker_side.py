"""The worker's side of an execution: its claim, its job spec, heartbeats, output reports
and the finish report. Every call comes with the calling worker's own token. Account
scoping does not apply (a worker serves every account); the worker and the attempt do: a
worker claims in its own name and reports only for what it claimed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Execution
from rgrid_api.runtimes import RuntimeCatalogue
from rgrid_api.services import artifacts, costs, lifecycle
from rgrid_api.services.logs import next_log_seq
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import Conflict, Forbidden, NotFound
from rgrid_common.protocol import WORK_DIR, FinishRequest, JobSpec
from rgrid_common.status import ExecutionStatus


def execution_by_id(session: Session, execution_id: str, *, fresh: bool = False) -> Execution:
    """The execution; ``fresh``: its row read again even if this session holds it."""
    execution = session.get(Execution, execution_id, populate_existing=fresh)
    if execution is None:
        raise NotFound(f"Execution {execution_id!r} not found.")
    return execution


def claiming_as(caller: str, named: str) -> str:
    """The name a claim is recorded under: the token's worker, which a body naming one must
    match."""
    if named and named != caller:
        raise Forbidden(f"This worker token belongs to {caller!r}; it cannot claim as "
                        f"{named!r}.", "Each worker claims with its own token.")
    return caller


def claim_execution(session: Session, *, execution_id: str, flow_run_id: str, worker: str,
                    settings: Settings, store: ObjectStore, now: datetime) -> JobSpec:
    """Atomically move ``queued → running`` for one flow run; a second claimant gets 409.

    The conditional UPDATE is the claim: whatever races or retries happen in Prefect, only
    one flow run ever runs an execution. The same flow run claiming again (a retry of it)
    gets the job back.
    """
    lifecycle.claim(session, execution_id, flow_run_id=flow_run_id, worker=worker, now=now)
    session.commit()
    return claimed_job(session, execution_id=execution_id, flow_run_id=flow_run_id,
                       settings=settings, store=store)


def claimed_job(session: Session, *, execution_id: str, flow_run_id: str, settings: Settings,
                store: ObjectStore) -> JobSpec:
    """The job of an execution ``flow_run_id`` has claimed; 409 for any other claimant."""
    # the claim was an UPDATE of the row, not of an object this session may hold
    execution = execution_by_id(session, execution_id, fresh=True)
    if not (execution.status == ExecutionStatus.RUNNING.value
            and execution.claimed_by == flow_run_id):
        raise Conflict(f"Execution {execution_id!r} is {execution.status}, "
                       f"claimed by {execution.claimed_by!r}.")
    return _job_spec(session, store, execution, settings)


def _job_spec(session: Session, store: ObjectStore, execution: Execution,
              settings: Settings) -> JobSpec:
    runtime = RuntimeCatalogue(settings.runtimes, settings.default_runtime).resolve(
        execution.runtime, execution.script_name)
    inputs = artifacts.inputs_of(session, execution)
    args = artifacts.container_args(execution, inputs, WORK_DIR)
    return JobSpec(
        execution_id=execution.id,
        inputs=artifacts.input_downloads(store, inputs, settings=settings),
        image=execution.image,
        script_name=execution.script_name,
        script_content=execution.script_content,
        command=runtime.command(f"{WORK_DIR}/{execution.script_name}", args),
        env=execution.env,
        memory_mb=execution.memory_mb,
        disk_mb=execution.disk_mb,
        cpus=execution.cpus,
        pids_limit=settings.pids_limit,
        timeout_seconds=execution.timeout_seconds,
        attempt=execution.attempt,
        log_seq_start=next_log_seq(session, execution.id),
        requirements=execution.requirements,
    )


def status_of(session: Session, execution_id: str) -> str:
    return execution_by_id(session, execution_id).status


def running_execution(session: Session, execution_id: str, *, worker: str,
                      attempt: int | None = None) -> Execution:
    """The execution, if it is running on ``worker`` and ``attempt`` (when given) is still
    its current one: a worker that lost its execution (it was retried elsewhere) gets 409."""
    execution = execution_by_id(session, execution_id)
    if execution.status != ExecutionStatus.RUNNING.value:
        raise Conflict(f"Execution {execution_id!r} is {execution.status}, not running.")
    _ensure_current(execution, attempt)
    ensure_claimed_by(execution, worker)
    return execution


def reporting_execution(session: Session, execution_id: str, *, worker: str,
                        attempt: int | None = None) -> Execution:
    """The execution, if ``worker`` may still report outputs: it runs there, or it was
    cancelled while ``attempt`` ran (what the script wrote before it was stopped is kept)."""
    execution = execution_by_id(session, execution_id)
    if not was_cancelled_while_running(execution):
        return running_execution(session, execution_id, worker=worker, attempt=attempt)
    _ensure_current(execution, attempt)
    ensure_claimed_by(execution, worker)
    return execution


def ensure_claimed_by(execution: Execution, worker: str) -> None:
    """403 for a worker reporting for work another worker claimed (or none yet)."""
    if execution.worker != worker:
        raise Forbidden(f"Execution {execution.id!r} was not claimed by worker {worker!r}.",
                        "A worker reports only for the executions it claimed.")


def _ensure_current(execution: Execution, attempt: int | None) -> None:
    if attempt is not None and attempt != execution.attempt:
        raise Conflict(f"Attempt {attempt} of execution {execution.id!r} is no longer "
                       f"current; attempt {execution.attempt} is.")


def record_heartbeat(session: Session, *, execution_id: str, worker: str,
                     attempt: int | None, now: datetime) -> None:
    running_execution(session, execution_id, worker=worker, attempt=attempt).heartbeat_at = now
    session.commit()


def finish_execution(session: Session, *, execution_id: str, worker: str,
                     request: FinishRequest, store: ObjectStore, settings: Settings,
                     now: datetime) -> Execution:
    """The worker's report, for the caller to commit (``finish_reports.take_report``).
    Sent again (a retry of the request), it is a no-op. For an execution cancelled while
    this attempt ran, only what the script wrote is kept: the status stays ``cancelled``."""
    execution = execution_by_id(session, execution_id)
    current = ExecutionStatus(execution.status)
    _ensure_current(execution, request.attempt)  # a stale attempt hears 409, wherever it went
    ensure_claimed_by(execution, worker)
    if current == request.status and current.is_finished:
        return execution
    if was_cancelled_while_running(execution):
        if artifacts.has_outputs(session, execution):  # the report, sent again
            return execution
        artifacts.record_outputs(session, store, execution=execution, files=request.outputs,
                                 settings=settings, now=now)
        execution.notes = request.notes
        costs.estimate_finished(session, execution, settings)
        return execution
    if not lifecycle.finish(session, execution, request.status, now=now,
                            attempt=request.attempt):
        session.rollback()
        raise Conflict(f"Execution {execution.id!r} cannot go from {execution.status} "
                       f"to {request.status.value}.")
    artifacts.record_outputs(session, store, execution=execution, files=request.outputs,
                             settings=settings, now=now)
    execution.exit_code = request.exit_code
    execution.error = request.error
    execution.dependency_cache = request.dependency_cache
    execution.image_id = request.image_id
    execution.notes = request.notes
    costs.estimate_finished(session, execution, settings)
    return execution


def was_cancelled_while_running(execution: Execution) -> bool:
    """Cancelled after a flow run claimed it: that worker may still report its outputs."""
    return (execution.status == ExecutionStatus.CANCELLED.value
            and execution.claimed_by is not None)


