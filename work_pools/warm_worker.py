"""A process-pool worker that keeps the flows warm.

Prefect's ``ProcessWorker`` starts a new Python for every flow run (``python -m
prefect.engine``), which costs ~1.5 s of imports before our flow does anything; measured,
that was most of the latency of a single ``rgrid run``. This worker serves the same
process-type pool with the same job template, but runs each flow run through Prefect's
own engine (``prefect.flow_engine.run_flow``, exactly what ``prefect.engine`` calls in the
subprocess) in a thread of its long-lived process, where the flows are already imported.

Besides polling its pool, it listens on the RGrid API's new-work stream
(``work_pools.new_work``) and polls at once when told; and, when it was full, it polls as
soon as a slot frees (a run told of while no slot was free is still waiting). Being told
and a freed slot are what start runs promptly; the poll (PREFECT_WORKER_QUERY_SECONDS)
only catches what neither covers: a run Prefect itself made (a schedule's), an
announcement missed while the stream reopened.

Limits: job-variable ``env``/``command`` overrides are not applied (every run shares the
worker's environment), and cancelling a flow run does not interrupt its thread — the
execute flow enforces its own timeout on the container instead.

    python -m work_pools.warm_worker --pool rgrid-process --name local-1 --limit 4
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import warnings
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
import anyio.to_thread
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.flow_engine import flow_run_logger, load_flow, run_flow
from prefect.flows import Flow
from prefect.states import State
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from flows.container import connect_docker, remove_leftovers
from flows.disk import remove_leftover_allowances
from flows.settings import WorkerSettings
from rgrid_common.errors import RGridError
from work_pools.new_work import poll_when_told

log = logging.getLogger(__name__)

with warnings.catch_warnings():
    # Registering under the existing "process" type replaces ProcessWorker in this
    # process's registry only, which is the point; Prefect warns about it.
    warnings.simplefilter("ignore")

    class InProcessJobConfiguration(ProcessJobConfiguration):
        @classmethod
        def _base_environment(cls) -> dict[str, str]:
            """Prefect's job carries every current setting as an environment variable
            for the process it would start (~90 ms of CPU per flow run, measured with
            py-spy); the flow runs in this process, which has them already."""
            return {}

    class WarmProcessWorker(ProcessWorker):
        type = "process"
        _description = "Runs flow runs in threads of one warm process (no per-run start)."
        job_configuration = InProcessJobConfiguration

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._flows: dict[UUID | None, Flow[..., Any]] = {}
            self._lock = threading.Lock()
            self._prefect: SyncPrefectClient | None = None
            self._slot_freed: anyio.Event | None = None  # made by poll_when_freed

        async def teardown(self, *exc_info: Any) -> None:
            with self._lock:
                prefect, self._prefect = self._prefect, None
            if prefect is not None:
                prefect.__exit__(None, None, None)
            await super().teardown(*exc_info)

        async def run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                      task_status: anyio.abc.TaskStatus[int] | None = None
                      ) -> ProcessWorkerResult:
            if task_status is not None:
                task_status.started(os.getpid())
            state = await anyio.to_thread.run_sync(self._run_in_thread, flow_run.id)
            crashed = state is None or state.is_crashed()
            return ProcessWorkerResult(status_code=1 if crashed else 0,
                                       identifier=f"{os.getpid()}:{flow_run.id}")

        def _release_limit_slot(self, flow_run_id: UUID) -> None:
            """Prefect's, and: a worker that was full says a slot is free (``serve``
            polls then)."""
            was_full = (self._limiter is not None
                        and self._limiter.available_tokens == 0)
            super()._release_limit_slot(flow_run_id)
            if was_full and self._slot_freed is not None:
                self._slot_freed.set()

        async def poll_when_freed(self) -> None:
            """Forever: a poll each time a full worker frees a slot. Several freed
            before the poll starts make one poll."""
            self._slot_freed = anyio.Event()
            while True:
                await self._slot_freed.wait()
                self._slot_freed = anyio.Event()  # a slot freed during the poll: another
                try:
                    await self.get_and_submit_flow_runs()
                except Exception:  # noqa: BLE001 - the regular poll reports and retries
                    log.warning("could not poll Prefect after a slot freed", exc_info=True)

        def _run_in_thread(self, flow_run_id: UUID) -> State | None:
            flow_run = self._read_flow_run(flow_run_id)
            return run_flow(self._flow_for(flow_run), flow_run=flow_run, return_type="state",
                            error_logger=flow_run_logger(flow_run=flow_run))

        def _read_flow_run(self, flow_run_id: UUID) -> FlowRun:
            """As ``prefect.flow_engine.load_flow_run`` does, but with one client for every
            run: a client of its own per run cost ~50 ms of CPU making it (its TLS context)."""
            with self._lock:
                if self._prefect is None:
                    self._prefect = get_client(sync_client=True)
                    self._prefect.__enter__()
                prefect = self._prefect
            return prefect.read_flow_run(flow_run_id)

        def _flow_for(self, flow_run: FlowRun) -> Flow[..., Any]:
            with self._lock:
                if flow_run.deployment_id not in self._flows:
                    self._flows[flow_run.deployment_id] = load_flow(flow_run)
                return self._flows[flow_run.deployment_id]


async def serve(pool: str, name: str, limit: int | None) -> None:
    _remove_leftover_containers()
    _remove_leftover_allowances()
    async with WarmProcessWorker(work_pool_name=pool, name=name, limit=limit) as worker:
        async with anyio.create_task_group() as group:
            group.start_soon(poll_when_told, pool, worker.get_and_submit_flow_runs,
                             WorkerSettings())
            group.start_soon(worker.poll_when_freed)
            await worker.start()
            group.cancel_scope.cancel()


def _remove_leftover_containers() -> None:
    """A worker killed mid-execution leaves its container behind; at the next start it goes."""
    settings = WorkerSettings()
    try:
        removed = remove_leftovers(connect_docker(settings.worker_name, settings.docker_host),
                                   settings.worker_name)
    except RGridError as exc:  # no engine yet: the executions will say so themselves
        log.warning("could not look for leftover containers: %s", exc.message)
        return
    if removed:
        log.warning("removed %d container(s) left by an earlier run of %s", removed,
                    settings.worker_name)


def _remove_leftover_allowances() -> None:
    """Its /work filesystems too (flows.disk), after its containers."""
    settings = WorkerSettings()
    removed = remove_leftover_allowances(settings.work_root, settings.worker_name)
    if removed:
        log.warning("removed %d /work allowance(s) left by an earlier run of %s", removed,
                    settings.worker_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    anyio.run(serve, args.pool, args.name, args.limit)


if __name__ == "__main__":
    main()
