"""Starting the Prefect flow run of an execution — the API's only contact with Prefect."""

from __future__ import annotations

import logging
import threading
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import ObjectNotFound

from rgrid_common.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class PrefectFlowRunScheduler:
    """Creates one flow run of the execute deployment per execution, and one of the batch
    deployment per batch.

    The execution (batch) id, with the attempt number after the first, is the flow run's
    idempotency key, so a resubmission never
    makes a second flow run, and its name, so the Prefect UI shows which one it is.
    """

    def __init__(self, *, api_url: str, deployment_name: str,
                 batch_deployment_name: str) -> None:
        self.api_url = api_url
        self.deployment_name = deployment_name
        self.batch_deployment_name = batch_deployment_name
        self._client: SyncPrefectClient | None = None
        self._deployment_ids: dict[str, UUID] = {}
        self._lock = threading.Lock()

    def schedule(self, *, execution_id: str, account_id: str, attempt: int = 1) -> str:
        name = execution_id if attempt == 1 else f"{execution_id}-attempt-{attempt}"
        return self._create(self.deployment_name, {"execution_id": execution_id},
                            name=name, account_id=account_id)

    def schedule_batch(self, *, batch_id: str, account_id: str, attempt: int = 1) -> str:
        name = batch_id if attempt == 1 else f"{batch_id}-attempt-{attempt}"
        return self._create(self.batch_deployment_name, {"batch_id": batch_id},
                            name=name, account_id=account_id)

    def _create(self, deployment_name: str, parameters: dict, *, name: str,
                account_id: str) -> str:
        try:
            client = self._connected_client()
            flow_run = client.create_flow_run_from_deployment(
                self._resolve_deployment(client, deployment_name),
                parameters=parameters,
                name=name,
                idempotency_key=name,
                tags=["rgrid", f"rgrid-account:{account_id}"],
            )
        except (httpx.HTTPError, OSError) as exc:
            raise ServiceUnavailable(
                f"The Prefect server at {self.api_url} is not reachable.",
                "Start it (`rgrid dev up` on a single machine) and try again.",
            ) from exc
        log.info("%s → flow run %r", name, str(flow_run.id))
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
                    "Register it with `rgrid dev up` (single machine) or "
                    "`prefect deploy --all` from the project folder.",
                ) from exc
        return self._deployment_ids[name]

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None
