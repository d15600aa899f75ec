"""Starting the Prefect flow run of an execution — the API's only contact with Prefect."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId,
                                            FlowRunFilter, FlowRunFilterId,
                                            FlowRunFilterState, FlowRunFilterStateType)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Cancelled, Crashed
from sqlalchemy.orm import Session

from rgrid_common.errors import InvalidInput, RGridError, ServiceUnavailable
from rgrid_common.names import SCHEDULED_BATCH_DEPLOYMENT

log = logging.getLogger(__name__)
READ_PAGE = 200  # the most flow runs Prefect returns per read
UNKNOWN = "unknown to Prefect"


def started_or_undone(session: Session, start: Callable[[], str],
                      undo: Callable[[], None]) -> str:
    """The id of the flow run ``start()`` makes; if Prefect cannot take it, ``undo()``
    removes what was recorded for the run (committed), so nothing half-made remains, and
    the error goes on to the caller."""
    try:
        return start()
    except RGridError:
        undo()
        session.commit()
        raise


@contextmanager
def tried_once() -> Iterator[None]:
    """In this block (in this thread: Prefect's settings are per context), a call to
    Prefect that fails raises at once, instead of after Prefect's client has retried it
    for about a minute; for a caller that retries on its own, with backoff, and says why
    meanwhile. Entering it costs about 0.1 s: enter it once per thread."""
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
        yield


class FlowRunScheduler(Protocol):
    """What the services ask of Prefect; ``PrefectFlowRunScheduler`` is the one there is."""

    def schedule(self, *, execution_id: str, account_id: str, attempt: int = 1,
                 tags: dict[str, str] | None = None) -> str: ...

    def schedule_batch(self, *, batch_id: str, account_id: str, attempt: int = 1,
                       tags: dict[str, str] | None = None) -> str: ...

    def create_schedule(self, *, schedule_id: str, account_id: str, cron: str | None,
                        every_seconds: int | None) -> str: ...

    def delete_schedule(self, deployment_id: str) -> None: ...

    def mark_crashed(self, flow_run_id: str, message: str) -> None: ...

    def cancel_flow_run(self, flow_run_id: str, message: str) -> None: ...

    def ended_flow_runs(self, flow_run_ids: list[str]) -> dict[str, str]: ...

    def stalled_flow_runs(self, flow_run_ids: list[str], *, taken_before: datetime
                          ) -> dict[str, str]: ...

    def next_run_at(self, deployment_id: str) -> datetime | None: ...


class PrefectFlowRunScheduler:
    """Creates one flow run of the execute deployment per execution, and one of the batch
    deployment per batch.

    The execution (batch) id, with the attempt number after the first, is the flow run's
    idempotency key, so a resubmission never
    makes a second flow run, and its name, so the Prefect UI shows which one it is.
    """

    def __init__(self, *, api_url: str, deployment_name: str, batch_deployment_name: str,
                 schedule_deployment_name: str = SCHEDULED_BATCH_DEPLOYMENT,
                 on_flow_run: Callable[[str], None] = lambda pool: None) -> None:
        """``on_flow_run(pool)`` is told the work pool of each flow run made
        (``rgrid_api.services.new_work.announce``)."""
        self.api_url = api_url
        self.on_flow_run = on_flow_run
        self.deployment_name = deployment_name
        self.batch_deployment_name = batch_deployment_name
        self.schedule_deployment_name = schedule_deployment_name
        self._client: SyncPrefectClient | None = None
        self._deployment_ids: dict[str, UUID] = {}
        self._lock = threading.Lock()

    def schedule(self, *, execution_id: str, account_id: str, attempt: int = 1,
                 tags: dict[str, str] | None = None) -> str:
        name = execution_id if attempt == 1 else f"{execution_id}-attempt-{attempt}"
        return self._create(self.deployment_name, {"execution_id": execution_id},
                            name=name, account_id=account_id, tags=tags)

    def schedule_batch(self, *, batch_id: str, account_id: str, attempt: int = 1,
                       tags: dict[str, str] | None = None) -> str:
        name = batch_id if attempt == 1 else f"{batch_id}-attempt-{attempt}"
        return self._create(self.batch_deployment_name, {"batch_id": batch_id},
                            name=name, account_id=account_id, tags=tags)

    def create_schedule(self, *, schedule_id: str, account_id: str, cron: str | None,
                        every_seconds: int | None) -> str:
        """A deployment of its own, made like the scheduled-batch one, whose schedule fires
        the flow that starts the batch; visible (and pausable) in the Prefect UI."""
        timing = _timing(cron, every_seconds)
        with self._reaching_prefect():
            client = self._connected_client()
            template = client.read_deployment(
                self._resolve_deployment(client, self.schedule_deployment_name))
            deployment_id = client.create_deployment(
                flow_id=template.flow_id, name=schedule_id, entrypoint=template.entrypoint,
                path=template.path, pull_steps=template.pull_steps,
                work_pool_name=template.work_pool_name,
                work_queue_name=template.work_queue_name,
                parameters={"schedule_id": schedule_id},
                tags=["rgrid", "rgrid-schedule", f"rgrid-account:{account_id}"],
                description=f"RGrid schedule {schedule_id}: {cron or f'every {every_seconds} s'}",
                schedules=[DeploymentScheduleCreate(schedule=timing, active=True)])
        return str(deployment_id)

    def delete_schedule(self, deployment_id: str) -> None:
        with self._reaching_prefect():
            try:
                self._connected_client().delete_deployment(UUID(deployment_id))
            except ObjectNotFound:
                pass

    def mark_crashed(self, flow_run_id: str, message: str) -> None:
        """For a flow run whose worker died: nothing else would ever end it."""
        self._force_state(flow_run_id, Crashed(message=message))

    def cancel_flow_run(self, flow_run_id: str, message: str) -> None:
        """For the flow run of an execution cancelled before it started: it never will."""
        self._force_state(flow_run_id, Cancelled(message=message))

    def _force_state(self, flow_run_id: str, state: State) -> None:
        flow_run = _uuid(flow_run_id)
        if flow_run is None:
            return
        with self._reaching_prefect():
            try:
                self._connected_client().set_flow_run_state(flow_run, state, force=True)
            except ObjectNotFound:
                pass

    def ended_flow_runs(self, flow_run_ids: list[str]) -> dict[str, str]:
        """Of ``flow_run_ids``, those that have ended or that Prefect does not know, each
        with what it says of them ("Crashed: …", "unknown to Prefect")."""
        ids = _prefect_ids(flow_run_ids)
        runs = self._read_flow_runs(list(ids))
        ended = {ids[run.id]: _described(run.state) for run in runs
                 if run.state is not None and run.state.is_final()}
        ended.update({ids[run_id]: UNKNOWN for run_id in ids.keys() - {run.id for run in runs}})
        return ended

    def stalled_flow_runs(self, flow_run_ids: list[str], *, taken_before: datetime
                          ) -> dict[str, str]:
        """Of ``flow_run_ids``, those a worker took (Pending or Running) before
        ``taken_before`` and that have not moved since, each with its state's name. For the
        flow run of a still-queued execution this means its worker died: a flow run claims
        its execution first thing, and Prefect itself never ends a flow run whose worker
        is gone."""
        ids = _prefect_ids(flow_run_ids)
        taken = FlowRunFilterState(type=FlowRunFilterStateType(
            any_=[StateType.PENDING, StateType.RUNNING]))
        return {ids[run.id]: run.state.name for run in self._read_flow_runs(list(ids), taken)
                if run.state is not None and run.state.timestamp < taken_before}

    def _read_flow_runs(self, ids: list[UUID], state: FlowRunFilterState | None = None
                        ) -> list[FlowRun]:
        """The flow runs of ``ids`` (in ``state``) Prefect knows, read a page at a time."""
        runs: list[FlowRun] = []
        with self._reaching_prefect():
            client = self._connected_client()
            for start in range(0, len(ids), READ_PAGE):
                page = ids[start:start + READ_PAGE]
                runs += client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page), state=state),
                    limit=len(page))
        return runs

    def next_run_at(self, deployment_id: str) -> datetime | None:
        with self._reaching_prefect():
            runs = self._connected_client().read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(
                    any_=[UUID(deployment_id)])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1)
        return runs[0].expected_start_time if runs else None

    @contextmanager
    def _reaching_prefect(self) -> Iterator[None]:
        try:
            yield
        except (httpx.HTTPError, OSError) as exc:
            raise ServiceUnavailable(
                f"The Prefect server at {self.api_url} is not reachable.",
                "Start it (`./scripts/dev up` on a single machine) and try again.",
            ) from exc

    def _create(self, deployment_name: str, parameters: dict, *, name: str,
                account_id: str, tags: dict[str, str] | None = None) -> str:
        """The user's tags go on the flow run as ``key=value``: the Prefect UI filters by
        them too."""
        with self._reaching_prefect():
            client = self._connected_client()
            flow_run = client.create_flow_run_from_deployment(
                self._resolve_deployment(client, deployment_name),
                parameters=parameters,
                name=name,
                idempotency_key=name,
                tags=["rgrid", f"rgrid-account:{account_id}",
                      *(f"{key}={value}" for key, value in (tags or {}).items())],
            )
        log.info("%s → flow run %r", name, str(flow_run.id))
        if flow_run.work_pool_name:
            self.on_flow_run(flow_run.work_pool_name)
        return str(flow_run.id)

    def _connected_client(self) -> SyncPrefectClient:
        with self._lock:
            if self._client is None:
                client = SyncPrefectClient(api=self.api_url)
                client.__enter__()
                self._client = client
            return self._client

    def _resolve_deployment(self, client: SyncPrefectClient, name: str) -> UUID:
        if name not in self._deployment_ids:
            try:
                self._deployment_ids[name] = client.read_deployment_by_name(name).id
            except ObjectNotFound as exc:
                raise ServiceUnavailable(
                    f"The Prefect deployment {name!r} is not registered.",
                    "Register it with `./scripts/dev up` (single machine) or "
                    "`prefect deploy --all` from the project folder.",
                ) from exc
        return self._deployment_ids[name]

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None


def _prefect_ids(flow_run_ids: list[str]) -> dict[UUID, str]:
    """Each id Prefect could know, by its UUID."""
    return {uuid: flow_run_id for flow_run_id in flow_run_ids
            if (uuid := _uuid(flow_run_id)) is not None}


def _uuid(text: str) -> UUID | None:
    """A flow run id Prefect could know; None for any other claimant id (a claim takes
    any id up to 64 characters, and such a run has no state in Prefect to change)."""
    try:
        return UUID(text)
    except ValueError:
        return None


def _described(state) -> str:
    return f"{state.name}: {state.message}" if state.message else state.name


def _timing(cron: str | None, every_seconds: int | None) -> CronSchedule | IntervalSchedule:
    if cron is None:
        return IntervalSchedule(interval=timedelta(seconds=every_seconds or 0))
    try:
        return CronSchedule(cron=cron, timezone="UTC")
    except ValueError as exc:
        raise InvalidInput(f"Invalid cron expression {cron!r}.",
                           "Use five fields: minute hour day month weekday, e.g. "
                           "'0 * * * *' for every hour (UTC).") from exc
