"""Executions, the user's side: submission (checked, recorded queued, handed to the flow
run starter), retry, cancel, and reads scoped to an account. The worker's side is
``worker_side``; the log is ``logs``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import committed
from rgrid_api.models import Account, Execution, as_utc
from rgrid_api.runtimes import Runtime, RuntimeCatalogue
from rgrid_api.schemas import ExecutionCreate, ItemSpec, ScriptSpec
from rgrid_api.services import artifacts, idempotency, lifecycle, logs, paging, result_cache
from rgrid_api.services.flow_run_starter import FlowRunStarter
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import Conflict, InvalidInput, NotFound
from rgrid_common.requirements import Requirements, parse_requirements
from rgrid_common.status import ExecutionStatus

_SAFE_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$")


@dataclass(frozen=True)
class CheckedSpec:
    """A ``ScriptSpec`` that passed the checks, with what they resolved."""

    spec: ScriptSpec
    runtime: Runtime
    requirements: Requirements | None
    script_sha256: str


def checked_spec(spec: ScriptSpec, settings: Settings) -> CheckedSpec:
    """Checks what every execution of ``spec`` shares; the CLI checked it too, but the API
    is the one that must not be fooled."""
    _validate_script(spec, settings)
    runtime = RuntimeCatalogue(settings.runtimes, settings.default_runtime).resolve(
        spec.runtime, spec.script_name)
    return CheckedSpec(spec, runtime, _checked_requirements(spec, runtime),
                       hashlib.sha256(spec.script_content.encode()).hexdigest())


def _checked_requirements(spec: ScriptSpec, runtime: Runtime) -> Requirements | None:
    if spec.requirements is None:
        return None
    if runtime.family != "python":
        raise InvalidInput(f"Requirements are pip packages; runtime {runtime.name} cannot "
                           "use them.", "Run a Python script, or drop the requirements.")
    requirements = parse_requirements(spec.requirements)
    return requirements if requirements.lines else None


def add_execution(session: Session, store: ObjectStore, *, account: Account,
                  checked: CheckedSpec, item: ItemSpec, settings: Settings, now: datetime,
                  **extra) -> Execution:
    """A new execution with its inputs recorded, not yet committed: ``queued``, or, when
    the result cache holds its result, already ``succeeded``."""
    spec, runtime, requirements = checked.spec, checked.runtime, checked.requirements
    artifacts.validate_inputs(item.inputs, args=item.args, script_name=spec.script_name,
                              settings=settings)
    execution = lifecycle.new_queued(
        account_id=account.id,
        script_name=spec.script_name,
        script_content=spec.script_content,
        runtime=runtime.name,
        image=runtime.image,
        requirements=requirements.text if requirements else None,
        cache_key=result_cache.cache_key(spec, item, script_sha256=checked.script_sha256,
                                         runtime=runtime.name, image=runtime.image,
                                         requirements=requirements),
        result_cache=result_cache.MISS if spec.use_cache else result_cache.OFF,
        script_sha256=checked.script_sha256,
        tags=spec.metadata,
        args=item.args,
        env=spec.env,
        memory_mb=_within("memory", spec.memory_mb, settings.default_memory_mb,
                          settings.max_memory_mb, "MB"),
        disk_mb=_within("disk", spec.disk_mb, settings.default_disk_mb,
                        settings.max_disk_mb, "MB"),
        cpus=_within("cpus", spec.cpus, settings.default_cpus, settings.max_cpus, "CPUs"),
        timeout_seconds=_within("timeout", spec.timeout_seconds,
                                settings.default_timeout_seconds,
                                settings.max_timeout_seconds, "seconds"),
        **extra,
    )
    session.add(execution)
    session.flush()
    artifacts.record_inputs(session, store, execution=execution, inputs=item.inputs,
                            settings=settings)
    if spec.use_cache:
        _answer_from_cache(session, store, execution, now)
    return execution


def _answer_from_cache(session: Session, store: ObjectStore, execution: Execution,
                       now: datetime) -> None:
    source = result_cache.find_cached(session, store, account_id=execution.account_id,
                                      key=execution.cache_key, now=now)
    if source is not None:
        result_cache.serve_from_cache(session, execution, source, now)


def clone_execution(session: Session, store: ObjectStore, original: Execution, *,
                    settings: Settings, now: datetime, **extra) -> Execution:
    """A new ``queued`` execution of the same script, args, limits and inputs, linked to
    ``original`` by ``retry_of``; not yet committed."""
    if not ExecutionStatus(original.status).is_finished:
        raise Conflict(f"Execution {original.id!r} is {original.status}; only a finished "
                       "execution can be retried.", f"Wait for it: rgrid logs {original.id} -f")
    execution = lifecycle.new_queued(
        account_id=original.account_id,
        script_name=original.script_name, script_content=original.script_content,
        runtime=original.runtime, image=original.image, args=original.args, env=original.env,
        requirements=original.requirements, cache_key=original.cache_key,
        result_cache=result_cache.OFF, memory_mb=original.memory_mb,
        disk_mb=original.disk_mb, cpus=original.cpus,
        timeout_seconds=original.timeout_seconds, retry_of=original.id,
        script_sha256=original.script_sha256, tags=original.tags, **extra)
    session.add(execution)
    session.flush()
    artifacts.copy_inputs(session, store, source=original, target=execution, now=now)
    return execution


def retry_execution(session: Session, *, account: Account, execution_id: str,
                    settings: Settings, starter: FlowRunStarter, store: ObjectStore,
                    now: datetime) -> Execution:
    original = get_execution(session, account=account, execution_id=execution_id)
    with committed(session):
        execution = clone_execution(session, store, original, settings=settings, now=now)
    starter.wake(execution.id)
    return execution


def create_execution(session: Session, *, account: Account, request: ExecutionCreate,
                     settings: Settings, starter: FlowRunStarter, store: ObjectStore,
                     now: datetime, idempotency_key: str | None = None) -> Execution:
    """Record the execution ``queued``, committed, and hand it to the starter, which makes
    its flow run. A request sent again with its ``idempotency_key`` gets the first's
    execution."""
    checked = checked_spec(request, settings)

    def submit() -> Execution:
        with committed(session):
            execution = add_execution(session, store, account=account, checked=checked,
                                      item=request, settings=settings, now=now,
                                      idempotency_key=idempotency_key)
        if not execution.cached_from:
            starter.wake(execution.id)
        return execution

    return idempotency.once(session, Execution, account_id=account.id, key=idempotency_key,
                            submit=submit)


def _validate_script(request: ScriptSpec, settings: Settings) -> None:
    if not _SAFE_SCRIPT_NAME.match(request.script_name) or ".." in request.script_name:
        raise InvalidInput(f"Invalid script name: {request.script_name!r}.",
                           "Use a plain file name such as analyze.py.")
    if len(request.script_content.encode()) > settings.max_script_bytes:
        raise InvalidInput(
            f"Script is larger than {settings.max_script_bytes // 1024} KB.",
            "Move data into input files instead of embedding it in the script.")


def _within(name: str, value, default, maximum, unit: str):
    if value is None:
        return default
    if value > maximum:
        raise InvalidInput(f"Requested {name} {value} {unit} exceeds the maximum of "
                           f"{maximum} {unit}.", f"Ask for at most {maximum} {unit}.")
    return value


def retries_of(session: Session, execution: Execution) -> list[Execution]:
    """The runs made again from this one (`rgrid retry`, Run again), oldest first."""
    return list(session.scalars(select(Execution).where(
        Execution.account_id == execution.account_id, Execution.retry_of == execution.id)
        .order_by(Execution.created_at)))


def get_execution(session: Session, *, account: Account, execution_id: str) -> Execution:
    execution = session.scalar(select(Execution).where(
        Execution.id == execution_id, Execution.account_id == account.id))
    if execution is None:
        raise NotFound(f"Execution {execution_id!r} not found.",
                       "Check the id with `rgrid list`.")
    return execution


@dataclass(frozen=True)
class ExecutionFilter:
    """What ``rgrid list`` asks for; every part given must hold."""

    status: ExecutionStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    batch_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def list_executions(session: Session, *, account: Account, where: ExecutionFilter,
                    limit: int, cursor: str | None = None) -> tuple[list[Execution], str | None]:
    """The account's executions that match, newest first, a page at a time; with the
    cursor of the next page (None on the last)."""
    query = select(Execution).where(Execution.account_id == account.id)
    if where.status is not None:
        query = query.where(Execution.status == where.status.value)
    if where.since is not None:
        query = query.where(Execution.created_at >= where.since)
    if where.until is not None:
        query = query.where(Execution.created_at < where.until)
    if where.batch_id is not None:
        query = query.where(Execution.batch_id == where.batch_id)
    if where.tags:
        query = query.where(*_tagged(session, where.tags))
    return paging.newest_first(session, query, Execution, limit=limit, cursor=cursor)


def _tagged(session: Session, tags: dict[str, str]) -> list:
    """Containment through the GIN index on PostgreSQL; a JSON path per tag on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return [type_coerce(Execution.tags, JSONB).contains(tags)]
    return [Execution.tags[key].as_string() == value for key, value in tags.items()]


CANCELLED_BY_OWNER = "cancelled by its owner (rgrid cancel)"


def cancel_execution(session: Session, *, account: Account, execution_id: str,
                     scheduler: FlowRunScheduler, now: datetime) -> tuple[Execution, bool]:
    """A queued execution never starts (its flow run is marked Cancelled in Prefect); a
    running one is stopped by its worker at its next heartbeat. With whether it was
    cancelled now: a finished execution is left as it is."""
    execution = get_execution(session, account=account, execution_id=execution_id)
    cancelled = cancel_where(session, Execution.id == execution.id, now=now)
    session.commit()
    session.refresh(execution)  # a flow run the starter recorded meanwhile is seen here
    if cancelled and execution.flow_run_id and execution.claimed_by is None:
        scheduler.cancel_flow_run(execution.flow_run_id, CANCELLED_BY_OWNER)
    return execution, bool(cancelled)


def cancel_where(session: Session, *conditions, now: datetime) -> int:
    """Cancels the queued and running executions matching ``conditions``, not committed;
    how many. A queued one's log says so here; a running one's worker says so in its log
    when it stops the container (this side writing to a log still being shipped would
    take a sequence number the worker's next line needs)."""
    queued = lifecycle.cancel(session, *conditions, sources=(ExecutionStatus.QUEUED,),
                              now=now, reason=CANCELLED_BY_OWNER)
    for execution_id in queued:
        logs.add_note(session, execution_id, f"[rgrid] {CANCELLED_BY_OWNER}\n")
    running = lifecycle.cancel(session, *conditions, sources=(ExecutionStatus.RUNNING,),
                               now=now, reason=CANCELLED_BY_OWNER)
    return len(queued) + len(running)


def duration_seconds(execution: Execution) -> float | None:
    if execution.started_at is None or execution.finished_at is None:
        return None
    return round((as_utc(execution.finished_at) - as_utc(execution.started_at)).total_seconds(),
                 3)

