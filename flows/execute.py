"""The ``rgrid-execute`` flow: one execution, from claim to final status."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import httpx
import requests
from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Cancelled

from flows.container import connect_docker, run_container, stop_attempt
from flows.control_plane import ControlPlane
from flows.dependencies import dependency_layer
from flows.disk import Allowance
from flows.heartbeat import Heartbeat
from flows.log_shipper import LogShipper
from flows.outcome import finish_report
from flows.outputs import storable, upload_outputs
from flows.settings import WorkerSettings
from flows.workspace import Workspace
from flows.work_dir import changed_files, fingerprints, fresh_work_dir, place_inputs, place_script
from rgrid_common.errors import Conflict, RGridError
from rgrid_common.names import EXECUTE_FLOW
from rgrid_common.protocol import FinishRequest, JobSpec, NextClaim
from rgrid_common.status import ExecutionStatus
from rgrid_common.tls import tls_context

log = logging.getLogger(__name__)
STORAGE_TIMEOUT = httpx.Timeout(60, connect=10)


def run_execution(execution_id: str, *, flow_run_id: str, settings: WorkerSettings,
                  control_plane: ControlPlane) -> ExecutionStatus | None:
    """Claim, run and report one execution; None when another flow run owns it,
    ``cancelled`` when its owner cancelled it before it started."""
    job = control_plane.claim(execution_id, flow_run_id=flow_run_id,
                              worker=settings.worker_name)
    if job is None:
        if control_plane.execution_status(execution_id) == ExecutionStatus.CANCELLED:
            return ExecutionStatus.CANCELLED
        log.info("execution %r is owned by another flow run; nothing to do", execution_id)
        return None
    return run_claimed(job, settings=settings, control_plane=control_plane)


@dataclass
class Clients:
    """What running an execution talks to besides the API. Making them costs ~70 ms
    (an httpx client's TLS context, a Docker connection), so a shard keeps one set for
    all its items."""

    storage: httpx.Client  # for signed storage URLs: it carries no credentials
    settings: WorkerSettings
    workspace: Workspace  # /work with its allowance, emptied between executions
    _docker: docker.DockerClient | None = None

    def docker(self) -> docker.DockerClient:
        if self._docker is None:
            settings = self.settings
            self._docker = connect_docker(settings.worker_name, settings.docker_host,
                                          settings.container_runtime)
        return self._docker

    def forget_docker(self) -> None:
        """After a failure: the next item connects (and checks the engine) afresh."""
        if self._docker is not None:
            self._docker.close()
            self._docker = None


@contextmanager
def worker_clients(settings: WorkerSettings, shared: Clients | None = None
                   ) -> Iterator[Clients]:
    if shared is not None:
        yield shared
        return
    with httpx.Client(timeout=STORAGE_TIMEOUT, verify=tls_context()) as storage:
        clients = Clients(storage, settings, Workspace(settings.work_root,
                                                      owner=settings.worker_name))
        try:
            yield clients
        finally:
            clients.workspace.close()
            clients.forget_docker()


ClaimAfter = Callable[[ExecutionStatus], NextClaim | None]


@dataclass(frozen=True)
class ItemEnd:
    """How an execution's attempt ended and, when its report claimed one
    (``then_claim``), the batch's next item (None: none may start)."""

    status: ExecutionStatus
    next_claimed: bool = False
    next_job: JobSpec | None = None


def run_claimed(job: JobSpec, *, settings: WorkerSettings, control_plane: ControlPlane,
                clients: Clients | None = None) -> ExecutionStatus:
    """Run and report an execution this flow run has claimed (see ``run_item``)."""
    return run_item(job, settings=settings, control_plane=control_plane,
                    clients=clients).status


def run_item(job: JobSpec, *, settings: WorkerSettings, control_plane: ControlPlane,
             clients: Clients | None = None,
             then_claim: ClaimAfter = lambda status: None) -> ItemEnd:
    """Run and report an execution this flow run has claimed. A failure that is not the
    script's (the engine, storage, or RGrid itself) gives the attempt back to the API,
    which retries it (``queued``) or, with the attempts spent, fails it. A report sent
    carries ``then_claim(status)``: a shard's claim of its next item.

    The heartbeats go on until the report is taken: the API may be slow to take it (its
    storage away while it checks the outputs), and a finished attempt gone silent would
    be given to another worker and run again."""
    with ExitStack() as held:
        try:
            connected = held.enter_context(worker_clients(settings, clients))
            heartbeat = held.enter_context(Heartbeat(
                control_plane, job.execution_id, job.attempt,
                every_seconds=settings.heartbeat_seconds,
                on_lost=lambda: stop_attempt(connected.docker(), job.execution_id,
                                             job.attempt)))
            report, changed_to = _attempt(job, settings, control_plane, connected, heartbeat)
        except Exception as exc:  # noqa: BLE001 - each such failure is retried or reported
            held.close()
            return ItemEnd(_give_back_or_fail(exc, job, control_plane))
        heartbeat.ending()
        return _deliver(report, changed_to, job, control_plane, then_claim)


def _attempt(job: JobSpec, settings: WorkerSettings, control_plane: ControlPlane,
             clients: Clients, heartbeat: Heartbeat
             ) -> tuple[FinishRequest, ExecutionStatus | None]:
    """The attempt run in a work directory of its own, its log shipped to the last line:
    the report to send, and what the execution became meanwhile (None: it is still this
    attempt's)."""
    execution_id = job.execution_id
    with (LogShipper(control_plane, execution_id, flush_seconds=settings.log_flush_seconds,
                     max_chars=settings.max_log_chars, first_seq=job.log_seq_start
                     ) as shipper,
          clients.workspace.for_execution(job.disk_mb) as (work_dir, allowance),
          fresh_work_dir(settings.work_root, f"{execution_id}-scratch",
                         for_container=False) as scratch):
        try:
            report = _run_and_collect(work_dir, allowance, job, settings, control_plane,
                                      clients, shipper, scratch, stopped=heartbeat.lost)
        except Exception:
            clients.forget_docker()
            raise
        changed_to = _changed_under_us(heartbeat, control_plane, execution_id)
        if changed_to == ExecutionStatus.CANCELLED:
            shipper.note(f"[rgrid] cancelled by its owner (rgrid cancel): attempt "
                         f"{job.attempt} on {settings.worker_name} was stopped\n")
    report.attempt = job.attempt
    if shipper.undelivered_chars:  # the API refused or was unreachable to the end
        report.notes = [*report.notes, f"{shipper.undelivered_chars:,} characters of "
                        "output could not be delivered to the API; the log is incomplete"]
    return report, changed_to


def _deliver(report: FinishRequest, changed_to: ExecutionStatus | None, job: JobSpec,
             control_plane: ControlPlane, then_claim: ClaimAfter) -> ItemEnd:
    """Sends the report, unless the attempt was given to another worker meanwhile: a
    cancelled one still reports what the script wrote before it was stopped."""
    execution_id = job.execution_id
    if changed_to not in (None, ExecutionStatus.CANCELLED):
        log.warning("attempt %d of %s was stopped; its result is dropped", job.attempt,
                    execution_id)
        return ItemEnd(changed_to)
    status = changed_to or report.status
    claim = then_claim(status)
    try:
        next_job = control_plane.finish(execution_id,
                                        report.model_copy(update={"then_claim": claim}))
    except Conflict:  # given to another worker while the report waited on the API
        log.warning("attempt %d of %s was given to another worker before its report was "
                    "taken; its result is dropped", job.attempt, execution_id)
        return ItemEnd(control_plane.execution_status(execution_id))
    return ItemEnd(status, next_claimed=claim is not None, next_job=next_job)


def _changed_under_us(heartbeat: Heartbeat, control_plane: ControlPlane,
                      execution_id: str) -> ExecutionStatus | None:
    """None while the attempt is still this worker's; else the execution's status now:
    ``cancelled`` by its owner, or given to another worker (``queued``, ``running``…)."""
    if not heartbeat.lost.is_set():
        return None
    return control_plane.execution_status(execution_id)


def is_transient(exc: Exception) -> bool:
    """Whether another attempt, maybe on another node, could pass: the engine, storage or
    the network failing. Anything else (a bug, a request that cannot be carried out) would
    fail the same way every time, so it is never retried."""
    if isinstance(exc, RGridError):
        return exc.transient
    if isinstance(exc, docker.errors.APIError):
        return exc.is_server_error()
    return isinstance(exc, (httpx.TransportError, requests.RequestException, OSError))


def _give_back_or_fail(exc: Exception, job: JobSpec,
                       control_plane: ControlPlane) -> ExecutionStatus:
    execution_id = job.execution_id
    reason = (f"{exc.message} {exc.hint}".strip() if isinstance(exc, RGridError)
              else f"internal error: {exc!r}")
    try:
        if is_transient(exc):
            log.warning("attempt %d of %s failed transiently: %s", job.attempt, execution_id,
                        reason, exc_info=not isinstance(exc, RGridError))
            control_plane.give_back(execution_id, job.attempt, reason)
        else:
            log.error("attempt %d of %s failed: %s", job.attempt, execution_id, reason,
                      exc_info=True)
            control_plane.finish(execution_id, FinishRequest(
                status=ExecutionStatus.FAILED, attempt=job.attempt,
                error=f"{reason} (not retried: it would fail the same way again)"))
    except Conflict:  # the API had given this attempt to another worker already
        log.warning("attempt %d of %s was no longer current", job.attempt, execution_id)
    return control_plane.execution_status(execution_id)


def _run_and_collect(work_dir: Path, allowance: Allowance, job: JobSpec,
                     settings: WorkerSettings, control_plane: ControlPlane, clients: Clients,
                     shipper: LogShipper, scratch: Path,
                     stopped: threading.Event) -> FinishRequest:
    """Script and inputs into /work, the container, then — whatever the script's outcome —
    the files it left there. An output the API refuses (too large, too many) fails an
    otherwise successful execution, saying why; so does /work reaching its allowance."""
    layer = None
    if not allowance.enforced:
        shipper.note(f"[rgrid] /work is not limited to {allowance.text} on this worker: "
                     f"{allowance.why_not}\n")
    try:
        engine = clients.docker()
        if job.requirements:
            layer = dependency_layer(engine, base_image=job.image, requirements=job.requirements,
                                     settings=settings, say=shipper.note)
            job = job.model_copy(update={"image": layer.image})
        place_script(work_dir, job)
        place_inputs(work_dir, job.inputs, clients.storage)
        job_files = fingerprints(work_dir)
        outcome = run_container(engine, job, work_dir=work_dir, uid=settings.container_uid,
                                worker=settings.worker_name, on_output=shipper.write,
                                runtime=settings.container_runtime, stopped=stopped)
    except RGridError as exc:
        if exc.transient:
            raise
        return _failed(exc)
    report = finish_report(outcome, job, shipper.stderr_tail,
                           disk_full=allowance.reached(work_dir))
    report.dependency_cache = layer.cache if layer else None
    report.image_id = outcome.image_id
    outputs, report.notes = storable(changed_files(work_dir, job_files))
    for note in report.notes:
        shipper.note(f"[rgrid] {note}\n")
    try:
        report.outputs = upload_outputs(control_plane, clients.storage, job, outputs, scratch)
    except RGridError as exc:
        if exc.transient:
            raise
        failed = _failed(exc, prefix="outputs not kept: ")
        return report.model_copy(update={
            "status": failed.status if report.status == ExecutionStatus.SUCCEEDED
            else report.status,
            "error": "\n".join(filter(None, [report.error, failed.error]))})
    return report


def _failed(exc: RGridError, prefix: str = "") -> FinishRequest:
    return FinishRequest(status=ExecutionStatus.FAILED,
                         error=f"{prefix}{exc.message} {exc.hint or ''}".strip())


def _report_crash(_flow, flow_run_, state) -> None:
    """If the flow itself breaks, the execution must not stay ``running`` forever."""
    execution_id = flow_run_.parameters.get("execution_id")
    control_plane = ControlPlane.from_settings(WorkerSettings())
    try:
        control_plane.finish(execution_id, FinishRequest(
            status=ExecutionStatus.FAILED, error=f"internal error: {state.message}"))
    except RGridError:
        log.exception("could not report the crash of %r", execution_id)
    finally:
        control_plane.close()


@flow(name=EXECUTE_FLOW, on_failure=[_report_crash], on_crashed=[_report_crash])
def execute(execution_id: str) -> str | State:
    """Ends Cancelled in Prefect when the execution's owner cancelled it."""
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        status = run_execution(execution_id, flow_run_id=str(flow_run.get_id()),
                               settings=settings, control_plane=control_plane)
    finally:
        control_plane.close()
    if status == ExecutionStatus.CANCELLED:
        return Cancelled(message=f"{execution_id} was cancelled by its owner (rgrid cancel)")
    return status.value if status else "skipped"
