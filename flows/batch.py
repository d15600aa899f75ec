"""The ``rgrid-batch`` flow: a batch's executions spread over the whole pool.

The batch flow keeps up to ``parallel`` shard flow runs (``rgrid-batch-shard``) on the
work pool, so they land on whichever workers have free slots, not only on the one running
the batch flow. Each shard claims the batch's next queued item through the API and runs it
as a task, until none may start. The API's claim is what bounds the batch to ``parallel``
running items, pool-wide; an item costs one claim and one container start, not a flow run
of its own.

Items come back to the queue when their attempt fails for a reason not their own (a lost
worker, storage or engine errors; see ``rgrid_api.services.attempts``); the batch flow
then starts shards again for them, so the batch ends only when every item has.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from prefect import flow, get_client, task
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from flows.control_plane import ControlPlane
from flows.execute import run_claimed
from flows.settings import WorkerSettings
from rgrid_api.schemas import BatchPlan, JobSpec
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
FAILURES = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT)
STARTING = (StateType.SCHEDULED, StateType.PENDING)


@task(name="rgrid-batch-shard-run", cache_policy=NONE)
def start_shard(batch_id: str, number: int, fail_fast: bool, deployment: str) -> UUID:
    """Shard ``number`` of this coordinator (a replacement coordinator numbers anew)."""
    name = f"{batch_id}-shard-{number}"
    started = run_deployment(deployment, parameters={"batch_id": batch_id,
                                                     "fail_fast": fail_fast},
                             flow_run_name=name, timeout=0,
                             idempotency_key=f"{flow_run.get_id()}-shard-{number}",
                             tags=["rgrid", "rgrid-batch-shard"])
    return started.id


def shards_wanted(plan: BatchPlan, starting: int) -> int:
    """New shards to start: enough that every item that may run now has a taker. Shards
    still starting will take some; running items hold theirs."""
    may_run = min(plan.parallel, plan.queued + plan.running)
    return max(0, min(plan.queued, may_run - plan.running - starting))


def _still_starting(shard_ids: set[UUID]) -> set[UUID]:
    """Those of ``shard_ids`` no worker has picked up yet."""
    if not shard_ids:
        return set()
    with get_client(sync_client=True) as client:
        return {shard_id for shard_id in shard_ids
                if client.read_flow_run(shard_id).state_type in STARTING}


def run_batch(batch_id: str, *, settings: WorkerSettings, control_plane: ControlPlane) -> int:
    """Tops the batch's shards up until every item has finished; the shards started."""
    started = 0
    starting: set[UUID] = set()
    while True:
        plan = control_plane.batch_plan(batch_id)
        if plan.queued == 0 and plan.running == 0:
            break
        starting = _still_starting(starting)
        for _ in range(shards_wanted(plan, len(starting))):
            starting.add(start_shard(batch_id, started, plan.fail_fast,
                                     settings.batch_shard_deployment))
            started += 1
        time.sleep(POLL_SECONDS)
    control_plane.finish_batch(batch_id)
    return started


@flow(name="rgrid-batch")
def batch(batch_id: str) -> int:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        return run_batch(batch_id, settings=settings, control_plane=control_plane)
    finally:
        control_plane.close()


@task(name="rgrid-batch-item", cache_policy=NONE, task_run_name="{job.execution_id}")
def run_item(job: JobSpec) -> str:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        return run_claimed(job, settings=settings, control_plane=control_plane).value
    finally:
        control_plane.close()


def run_shard_items(batch_id: str, *, fail_fast: bool, flow_run_id: str,
                    settings: WorkerSettings, control_plane: ControlPlane) -> int:
    ran = 0
    while job := control_plane.claim_next(batch_id, flow_run_id=flow_run_id,
                                          worker=settings.worker_name):
        state = run_item(job, return_state=True)
        ran += 1
        if not state.is_completed():  # its attempt is given back, by it or by the sweep
            log.error("item %s of %s broke: %s", job.execution_id, batch_id, state.message)
            continue
        status = ExecutionStatus(state.result())
        if fail_fast and status in FAILURES:
            cancelled = control_plane.cancel_queued(
                batch_id, f"cancelled: --fail-fast after {job.execution_id} {status.value}")
            log.info("fail-fast: cancelled %d queued items of %s", cancelled, batch_id)
    return ran


@flow(name="rgrid-batch-shard")
def batch_shard(batch_id: str, fail_fast: bool = False) -> int:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        return run_shard_items(batch_id, fail_fast=fail_fast,
                               flow_run_id=str(flow_run.get_id()), settings=settings,
                               control_plane=control_plane)
    finally:
        control_plane.close()
