"""The ``rgrid-execute`` flow: one execution, from claim to final status."""

from __future__ import annotations

import logging

from prefect import flow
from prefect.runtime import flow_run

from flows.container import connect_docker, run_job
from flows.control_plane import ControlPlane
from flows.log_shipper import LogShipper
from flows.outcome import finish_report
from flows.settings import WorkerSettings
from rgrid_api.schemas import FinishRequest
from rgrid_common.errors import RGridError
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)


def run_execution(execution_id: str, *, flow_run_id: str, settings: WorkerSettings,
                  control_plane: ControlPlane) -> ExecutionStatus | None:
    """Claim, run and report one execution; None when another flow run owns it."""
    job = control_plane.claim(execution_id, flow_run_id=flow_run_id,
                              worker=settings.worker_name)
    if job is None:
        log.info("execution %r is owned by another flow run; nothing to do", execution_id)
        return None
    with LogShipper(control_plane, execution_id,
                    flush_seconds=settings.log_flush_seconds,
                    max_chars=settings.max_log_chars) as shipper:
        try:
            client = connect_docker(settings.worker_name, settings.docker_host)
            outcome = run_job(client, job, work_root=settings.work_root,
                              uid=settings.container_uid, on_output=shipper.write)
            report = finish_report(outcome, job, shipper.stderr_tail)
        except RGridError as exc:
            report = FinishRequest(status=ExecutionStatus.FAILED,
                                   error=f"{exc.message} {exc.hint}".strip())
    control_plane.finish(execution_id, report)
    return report.status


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


@flow(name="rgrid-execute", on_failure=[_report_crash], on_crashed=[_report_crash])
def execute(execution_id: str) -> str:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        status = run_execution(execution_id, flow_run_id=str(flow_run.get_id()),
                               settings=settings, control_plane=control_plane)
    finally:
        control_plane.close()
    return status.value if status else "skipped"
