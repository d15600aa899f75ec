"""The ``rgrid-batch`` flow: a batch's executions fanned out over the whole pool.

Each item is a task that starts an ``rgrid-execute`` flow run of the item's execution on
the work pool, so any worker with a free slot takes it, not only the one running this
flow, and waits for it. A thread pool of ``parallel`` workers bounds how many items run at
once, pool-wide. An item costs a flow-run pickup and a container start, not a Python
process: the warm worker runs flow runs in threads.
"""

from __future__ import annotations

import logging

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.deployments import run_deployment
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.control_plane import ControlPlane
from flows.settings import WorkerSettings
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
PICKUP_ATTEMPTS = 3


@task(name="rgrid-batch-item", cache_policy=NONE)
def run_item(execution_id: str, deployment: str) -> str:
    """Runs the item's flow run; if that ended without ever claiming the execution (it
    crashed on pickup), starts another, a bounded number of times."""
    control_plane = ControlPlane.from_settings(WorkerSettings())
    try:
        for attempt in range(1, PICKUP_ATTEMPTS + 1):
            name = execution_id if attempt == 1 else f"{execution_id}-attempt-{attempt}"
            run_deployment(deployment, parameters={"execution_id": execution_id},
                           flow_run_name=name, idempotency_key=name,
                           poll_interval=POLL_SECONDS, tags=["rgrid", "rgrid-batch-item"])
            if control_plane.execution_status(execution_id) != ExecutionStatus.QUEUED:
                break
            log.warning("flow run %s ended before claiming %s; starting another", name,
                        execution_id)
    finally:
        control_plane.close()
    return execution_id


def run_batch(batch_id: str, *, settings: WorkerSettings, control_plane: ControlPlane) -> dict:
    plan = control_plane.batch_plan(batch_id)
    outcome: dict[str, int] = {}
    with ThreadPoolTaskRunner(max_workers=plan.parallel) as runner:
        futures = [runner.submit(run_item, {"execution_id": execution_id,
                                            "deployment": settings.execute_deployment})
                   for execution_id in plan.execution_ids]
        for future in as_completed(futures):
            status = control_plane.execution_status(future.result())
            outcome[status.value] = outcome.get(status.value, 0) + 1
            if plan.fail_fast and status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
                cancelled = control_plane.cancel_queued(
                    batch_id, f"cancelled: --fail-fast after {status.value} item")
                if cancelled:
                    log.info("fail-fast: cancelled %d queued items of %s", cancelled, batch_id)
    control_plane.finish_batch(batch_id)
    return outcome


@flow(name="rgrid-batch")
def batch(batch_id: str) -> dict:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        return run_batch(batch_id, settings=settings, control_plane=control_plane)
    finally:
        control_plane.close()
