"""The ``rgrid-batch`` flow: a batch's executions spread over the whole pool.

The batch flow keeps up to ``parallel`` shard flow runs (``rgrid-batch-shard``) on the
work pool, so they land on whichever workers have free slots, not only on the one running
the batch flow. Each shard claims the batch's next queued item through the API and runs it
in its own flow run, until none may start. The API's claim is what bounds the batch to ``parallel``
running items, pool-wide; an item costs one claim and one container start, not a flow run
of its own.

Coordination (this flow) runs on the control pool, never on an execution slot; shards
wait in a queue of lower priority than single runs, and a running shard steps aside
between items when single runs are waiting for a slot on its pool, so a busy pool still
starts an ``rgrid run`` after at most one item (``work_pools``).

Items come back to the queue when their attempt fails for a reason not their own (a lost
worker, storage or engine errors; see ``rgrid_api.services.attempts``); the batch flow
then starts shards again for them, so the batch ends only when every item has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

from prefect import flow, get_client, task
from prefect.cache_policies import NONE
from prefect.client.schemas.filters import (FlowFilter, FlowFilterName, FlowRunFilter,
                                            FlowRunFilterExpectedStartTime, FlowRunFilterId,
                                            FlowRunFilterState, FlowRunFilterStateType,
                                            WorkPoolFilter, WorkPoolFilterName)
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.deployments import run_deployment
from prefect.logging import get_run_logger as flow_run_logger
from prefect.runtime import flow_run
from prefect.states import Cancelled, Crashed

from flows.control_plane import ControlPlane
from flows.execute import ClaimAfter, Clients, ItemEnd, run_item, worker_clients
from flows.settings import WorkerSettings
from rgrid_common.names import BATCH_FLOW, EXECUTE_FLOW, ITEM_TASK, SHARD_FLOW
from rgrid_common.protocol import BatchPlan, JobSpec, NextClaim
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)
# How often the coordinator asks for its batch's plan (which is its heartbeat too) and,
# while items are queued, reads its shards' flow runs from Prefect: a shard that ended or
# was lost is replaced at most this late. Once its shards are started it has nothing to do
# but that: the batch is finished by its last item's report, and a cancel by its owner.
# (At 0.5 s, its plans were a tenth of the API's CPU during a batch, py-spy.)
POLL_SECONDS = 2.0
FAILURES = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT)
READ_PAGE = 200  # the most flow runs Prefect returns per read
STEP_ASIDE_CHECK_SECONDS = 1.0  # a shard asks Prefect at most this often
# A single run due for less than this is one a worker with a free slot is still about to
# take (workers poll every 0.5 s here, 10 s by Prefect's default).
WAITING_AFTER_SECONDS = 1.0


@task(name=f"{SHARD_FLOW}-run", cache_policy=NONE)
def start_shard(batch_id: str, number: int, fail_fast: bool, deployment: str) -> FlowRun:
    """Shard ``number`` of this coordinator (a replacement coordinator numbers anew)."""
    name = f"{batch_id}-shard-{number}"
    return run_deployment(deployment, parameters={"batch_id": batch_id,
                                                  "fail_fast": fail_fast},
                          flow_run_name=name, timeout=0,
                          idempotency_key=f"{flow_run.get_id()}-shard-{number}",
                          tags=["rgrid", SHARD_FLOW])


def shards_wanted(plan: BatchPlan, live: int) -> int:
    """New shards to start: one per item that may run now and has no live shard to take
    it. A shard lives until its flow run ends (or, its worker lost, is marked crashed)."""
    may_run = min(plan.parallel, plan.queued + plan.running)
    return max(0, min(plan.queued, may_run - live))


def _live(client: SyncPrefectClient, shard_ids: set[UUID], plan: BatchPlan) -> set[UUID]:
    """Those of ``shard_ids`` whose flow runs have not ended, less the lost ones (see
    ``_lost``), which are marked Crashed so Prefect's UI says so too."""
    ids = list(shard_ids)
    live: set[UUID] = set()
    taken_before = datetime.now(timezone.utc) - timedelta(seconds=plan.lost_after_seconds)
    for start in range(0, len(ids), READ_PAGE):
        page = ids[start:start + READ_PAGE]
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=len(page))
        for run in runs:
            if run.state is None or run.state.is_final():
                continue
            if _lost(run, plan, taken_before):
                log.warning("shard %s: %s since %s, no item lately; its worker is lost",
                            run.name, run.state.name, run.state.timestamp)
                client.set_flow_run_state(run.id, Crashed(
                    message="its worker took it and was not heard from again"), force=True)
                continue
            live.add(run.id)
    return live


def _lost(run: FlowRun, plan: BatchPlan, taken_before: datetime) -> bool:
    """A shard a worker took (Pending or Running) before ``taken_before`` that has held
    no item since: a shard claims an item first thing and again as soon as one ends, so
    its worker died. Prefect never ends such a run itself; counted live, it would hold a
    slot of the batch's ``parallel`` forever."""
    return (run.state.type in (StateType.PENDING, StateType.RUNNING)
            and run.state.timestamp < taken_before
            and str(run.id) not in plan.active_shards)


def run_batch(batch_id: str, *, settings: WorkerSettings, control_plane: ControlPlane
              ) -> BatchPlan:
    """Tops the batch's shards up until every item has finished; the last plan (with
    ``cancelled`` when its owner cancelled it)."""
    started = 0
    live: set[UUID] = set()
    # one client for the batch's life: one made per look (a new TLS context each) was a
    # quarter of the control worker's CPU during a batch (py-spy, 2026-12-07)
    with get_client(sync_client=True) as prefect:
        while True:
            plan = control_plane.batch_plan(batch_id)
            if plan.queued == 0 and plan.running == 0:
                break
            if plan.queued and live:
                live = _live(prefect, live, plan)
            pools = set()
            for _ in range(shards_wanted(plan, len(live))):
                shard = start_shard(batch_id, started, plan.fail_fast,
                                    settings.batch_shard_deployment)
                live.add(shard.id)
                pools.add(shard.work_pool_name)
                started += 1
            for pool in pools - {None}:  # its workers take the shards now, not at their poll
                control_plane.shards_made(batch_id, pool)
            time.sleep(POLL_SECONDS)
    control_plane.finish_batch(batch_id)
    log.info("batch %s: %d shards started", batch_id, started)
    return plan


@flow(name=BATCH_FLOW)
def batch(batch_id: str) -> str | State:
    """Ends Cancelled in Prefect when the batch's owner cancelled it."""
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    try:
        plan = run_batch(batch_id, settings=settings, control_plane=control_plane)
    finally:
        control_plane.close()
    if plan.cancelled:
        return Cancelled(message=f"{batch_id} was cancelled by its owner (rgrid cancel)")
    return "finished"


def run_shard_items(batch_id: str, *, fail_fast: bool, flow_run_id: str,
                    settings: WorkerSettings, control_plane: ControlPlane,
                    step_aside: Callable[[], bool] = lambda: False) -> int:
    """Items run in the shard's own flow run, one after another, each logged there and
    (``items_as_tasks``) a Prefect task run of it, with one set of clients. Each item's
    report claims the next (one request between two items), unless the shard is to end:
    ``step_aside()`` says so (the coordinator starts another for what is left), or the
    item failed a ``fail_fast`` batch."""
    ran = 0
    run = run_item
    if settings.items_as_tasks:
        logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)
        run = run_item_as_task
    turns = ShardTurns(NextClaim(batch_id=batch_id, flow_run_id=flow_run_id,
                                 worker=settings.worker_name),
                       fail_fast=fail_fast, step_aside=step_aside)
    with worker_clients(settings) as clients:
        job = turns.claim(control_plane)
        while job:
            started = time.perf_counter()
            end = run(job, settings=settings, control_plane=control_plane, clients=clients,
                      then_claim=turns.then_claim)
            ran += 1
            flow_run_logger().info("%s %s in %.2f s (attempt %d)", job.execution_id,
                                   end.status.value, time.perf_counter() - started,
                                   job.attempt)
            _stop_early_on_failure(batch_id, job, end.status, fail_fast, control_plane)
            stepping_aside = turns.stepping_aside()
            if end.next_claimed:
                job = end.next_job
            elif stepping_aside:
                flow_run_logger().info("single runs are waiting for a slot: stepping aside "
                                       "after %d items", ran)
                job = None
            else:  # the report was not sent, or the item failed a fail-fast batch
                job = turns.claim(control_plane)
    return ran


class ShardTurns:
    """What a shard does after each item, ``step_aside()`` asked once an item: its report
    claims the next item, unless the item failed a ``fail_fast`` batch or the shard is to
    step aside; a report not sent (the attempt given back) claims nothing, and the shard
    then claims on its own unless it is to step aside."""

    def __init__(self, claim: NextClaim, *, fail_fast: bool,
                 step_aside: Callable[[], bool]) -> None:
        self._claim = claim
        self._fail_fast = fail_fast
        self._step_aside = step_aside
        self._answer: bool | None = None  # what the report's step_aside() said

    def then_claim(self, status: ExecutionStatus) -> NextClaim | None:
        """The claim the item's report carries (``flows.execute.ClaimAfter``)."""
        self._answer = self._step_aside()
        if self._answer or (self._fail_fast and status in FAILURES):
            return None
        return self._claim

    def stepping_aside(self) -> bool:
        """Whether the shard ends after this item: the report's answer, when it asked.
        Called once after each item."""
        answer, self._answer = self._answer, None
        return self._step_aside() if answer is None else answer

    def claim(self, control_plane: ControlPlane) -> JobSpec | None:
        claim = self._claim
        return control_plane.claim_next(claim.batch_id, flow_run_id=claim.flow_run_id,
                                        worker=claim.worker)


@task(name=ITEM_TASK, task_run_name="{job.execution_id} attempt {job.attempt}",
      cache_policy=NONE, persist_result=False)
def run_item_as_task(job: JobSpec, *, settings: WorkerSettings,
                     control_plane: ControlPlane, clients: Clients,
                     then_claim: ClaimAfter) -> ItemEnd:
    """An item as a Prefect task run (``items_as_tasks``), its engine's INFO lines quiet.
    No Prefect retries: an item's attempt that fails for a reason not its own goes back
    to the API, which queues it for any worker, not this one again
    (``rgrid_api.services.attempts``)."""
    return run_item(job, settings=settings, control_plane=control_plane, clients=clients,
                    then_claim=then_claim)


class SingleRunsWaiting:
    """Whether single runs wait past their start time on ``pool``: then every slot is
    taken, and the shard's is theirs next (they are on a queue of higher priority).

    Asked between items, it gives the last answer Prefect gave, and never waits on
    Prefect: each call has the next asked for on a thread of its own, no sooner than
    ``ask_every`` after the last. A shard that waited on Prefect between items held no item
    while Prefect restarted, and its coordinator took it for lost (found by the chaos
    suite); asked in the shard's loop, it was also ~3 % of the shard's wall time
    (py-spy). Until the first answer, no single run is taken to wait."""

    def __init__(self, client: SyncPrefectClient, pool: str | None, *,
                 ask_every: float = STEP_ASIDE_CHECK_SECONDS) -> None:
        self._client = client
        self._pool = pool
        self._ask_every = ask_every
        self._waiting = False
        self._answered_at = float("-inf")
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._asker = threading.Thread(target=self._ask_when_wanted, name="step-aside",
                                       daemon=True)

    def __enter__(self) -> SingleRunsWaiting:
        if self._pool is not None:
            self._wanted.set()  # the first answer, asked at once
            self._asker.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stopped.set()
        self._wanted.set()
        if self._asker.is_alive():
            self._asker.join()

    def __call__(self) -> bool:
        if self._pool is None:
            return False
        self._wanted.set()
        return self._waiting

    def _ask_when_wanted(self) -> None:
        while self._wanted.wait() and not self._stopped.is_set():
            self._wanted.clear()
            while (left := self._ask_every - self._age()) > 0:
                if self._stopped.wait(left):
                    return
            self._ask()

    def _age(self) -> float:
        return time.monotonic() - self._answered_at

    def _ask(self) -> None:
        """An ask that fails leaves the last answer standing."""
        due = datetime.now(timezone.utc) - timedelta(seconds=WAITING_AFTER_SECONDS)
        try:
            waiting = self._client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[EXECUTE_FLOW])),
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(
                    any_=[self._pool])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(
                        any_=[StateType.SCHEDULED])),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=due)),
                limit=1)
        except Exception:  # noqa: BLE001 - the next ask may pass
            log.warning("could not ask Prefect for single runs waiting on %r",
                        self._pool, exc_info=True)
            return
        self._waiting, self._answered_at = bool(waiting), time.monotonic()


class SharedAskers:
    """One ``SingleRunsWaiting`` per pool in a worker process, shared by the shards running
    there (threads of one warm worker, ``work_pools.warm_worker``), with a Prefect client
    of its own: the answer is the pool's, not the shard's, and each shard asking for itself
    made a worker with N shards ask Prefect N times as often (those reads were a tenth of
    a worker's CPU and of the Prefect server's during a batch, py-spy, 2026-12-07). It
    stops when the last shard using it ends."""

    def __init__(self, open_client: Callable[[], AbstractContextManager[SyncPrefectClient]]
                 = lambda: get_client(sync_client=True),
                 ask_every: float = STEP_ASIDE_CHECK_SECONDS) -> None:
        self._open_client = open_client
        self._ask_every = ask_every
        self._lock = threading.Lock()
        self._held: dict[str, _Shared] = {}

    @contextmanager
    def for_pool(self, pool: str | None) -> Iterator[Callable[[], bool]]:
        if pool is None:
            yield lambda: False
            return
        with self._lock:
            shared = self._held.get(pool) or self._start(pool)
            shared.users += 1
        try:
            yield shared.asker
        finally:
            with self._lock:
                shared.users -= 1
                last = shared.users == 0 and self._held.pop(pool, None) is shared
            if last:  # outside the lock: its ask may be waiting on Prefect
                shared.resources.close()

    def _start(self, pool: str) -> _Shared:
        resources = ExitStack()
        client = resources.enter_context(self._open_client())
        asker = resources.enter_context(SingleRunsWaiting(client, pool,
                                                          ask_every=self._ask_every))
        self._held[pool] = _Shared(asker, resources)
        return self._held[pool]


@dataclass
class _Shared:
    asker: SingleRunsWaiting
    resources: ExitStack  # the asker and its client
    users: int = 0


STEP_ASIDE_ASKERS = SharedAskers()


def _stop_early_on_failure(batch_id: str, job: JobSpec, status: ExecutionStatus,
                           fail_fast: bool, control_plane: ControlPlane) -> None:
    if fail_fast and status in FAILURES:
        cancelled = control_plane.cancel_queued(
            batch_id, f"cancelled: --fail-fast after {job.execution_id} {status.value}")
        log.info("fail-fast: cancelled %d queued items of %s", cancelled, batch_id)


@flow(name=SHARD_FLOW)
def batch_shard(batch_id: str, fail_fast: bool = False) -> int:
    settings = WorkerSettings()
    control_plane = ControlPlane.from_settings(settings)
    flow_run_id = str(flow_run.get_id())
    try:
        with get_client(sync_client=True) as prefect:
            own_pool = prefect.read_flow_run(UUID(flow_run_id)).work_pool_name
        with STEP_ASIDE_ASKERS.for_pool(own_pool) as step_aside:
            return run_shard_items(batch_id, fail_fast=fail_fast, flow_run_id=flow_run_id,
                                   settings=settings, control_plane=control_plane,
                                   step_aside=step_aside)
    finally:
        control_plane.close()
