"""The API in-process (real HTTP semantics through TestClient) on SQLite and PostgreSQL,
creating real flow runs on a real Prefect server — on a pool no worker serves, so the
flow runs stay scheduled and can be inspected."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse


import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

from devstack.stack import DevStack
from flows.control_plane import ControlPlane
from rgrid_api.core.config import Settings
from rgrid_api.main import create_app
from tests.cuttable_socket import CuttableTcp
from tests.helpers import wait_for

IDLE_POOL = "rgrid-api-tests"
IDLE_DEPLOYMENT = "rgrid-execute/api-tests"
IDLE_BATCH_DEPLOYMENT = "rgrid-batch/api-tests"
IDLE_SCHEDULE_DEPLOYMENT = "rgrid-scheduled-batch/api-tests"


@pytest.fixture(scope="session")
def idle_deployment(stack: DevStack) -> str:
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=IDLE_POOL, type="process"))
        except ObjectAlreadyExists:
            pass
        for flow_name, entrypoint in (("rgrid-execute", "flows.execute:execute"),
                                      ("rgrid-batch", "flows.batch:batch"),
                                      ("rgrid-scheduled-batch",
                                       "flows.scheduled_batch:scheduled_batch")):
            client.create_deployment(flow_id=client.create_flow_from_name(flow_name),
                                     name="api-tests", entrypoint=entrypoint,
                                     work_pool_name=IDLE_POOL)
    return IDLE_DEPLOYMENT


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'rgrid.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def api_settings(database_url: str, stack: DevStack, idle_deployment: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=database_url, prefect_api_url=stack.settings.prefect_api_url,
                    execute_deployment=idle_deployment,
                    batch_deployment=IDLE_BATCH_DEPLOYMENT,
                    schedule_deployment=IDLE_SCHEDULE_DEPLOYMENT,
                    admin_key="admin-" + secrets.token_hex(8),
                    control_token="control-" + secrets.token_hex(8),
                    storage_dir=tmp_path_factory.mktemp("objects"),
                    storage_signing_key="sign-" + secrets.token_hex(16),
                    public_url="http://testserver",
                    # one app serves every API test from one address, several of which fail
                    # authentication on purpose; the limits are tested on an app of their own
                    failed_auth_per_minute=0, submissions_per_minute=0)


@pytest.fixture(scope="session")
def api(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as client:
        yield client


class Caller:
    """An account's view of the API."""

    def __init__(self, client: TestClient, key: str, account: dict) -> None:
        self.client, self.key, self.account = client, key, account
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, json: dict):
        return self.client.post(path, headers=self.headers, json=json)


@pytest.fixture(scope="session")
def make_account(api: TestClient, api_settings: Settings):
    def make(prefix: str = "acct") -> Caller:
        response = api.post(
            "/api/v1/accounts", json={"name": f"{prefix}-{secrets.token_hex(4)}"},
            headers={"Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"})
        assert response.status_code == 201, response.text
        body = response.json()
        return Caller(api, body["api_key"], body)
    return make


@pytest.fixture
def alice(make_account) -> Caller:
    return make_account("alice")


@pytest.fixture
def bob(make_account) -> Caller:
    return make_account("bob")


# The worker the API tests act as; its token is its own, as every node's is.
TEST_WORKER = "node-7"


@pytest.fixture(scope="session")
def control_headers(api_settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_settings.control_token.get_secret_value()}"}


@pytest.fixture(scope="session")
def issue_worker_headers(api: TestClient, control_headers) -> Callable[[str], dict[str, str]]:
    """A new worker token for the named worker, as the autoscaler gets one per node."""
    def issue(worker: str) -> dict[str, str]:
        response = api.post("/api/v1/control/worker-tokens", json={"worker": worker},
                            headers=control_headers)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}
    return issue


@pytest.fixture(scope="session")
def worker_headers(issue_worker_headers) -> dict[str, str]:
    return issue_worker_headers(TEST_WORKER)


@pytest.fixture
def control_plane(api, worker_headers) -> Iterator[ControlPlane]:
    """The worker's client of the API, as TEST_WORKER."""
    api.headers.update(worker_headers)
    yield ControlPlane(api)
    for name in worker_headers:
        api.headers.pop(name, None)


HELLO = {"script_name": "hello.py", "script_content": "print('hi')\n", "args": ["a"],
         "env": {"MODE": "fast"}}


def submit(caller: Caller, **overrides) -> dict:
    response = caller.post("/api/v1/executions", {**HELLO, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def with_flow_run(caller: Caller, execution: dict) -> dict:
    """The execution once the starter has recorded its flow run (submission answers
    before)."""
    return wait_for(lambda: (found := caller.get(f"/api/v1/executions/{execution['id']}")
                             .json())["flow_run_id"] and found, timeout=60,
                    what=f"the flow run of {execution['id']}", every=0.05)


class Clock:
    """The API's clock, moved by the test (signed URLs, retention, cache expiry)."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked(api_settings, clock):
    with TestClient(create_app(api_settings, clock=clock)) as client:
        yield client


@pytest.fixture
def as_alice(clocked, alice) -> Caller:
    return Caller(clocked, alice.key, alice.account)


@pytest.fixture
def as_bob(clocked, bob) -> Caller:
    return Caller(clocked, bob.key, bob.account)


@dataclass
class StorageBehindRelay:
    """An API app whose S3 server (moto) it reaches through a relay the test controls,
    and a worker's view of that app."""
    api: TestClient
    control_plane: ControlPlane
    relay: CuttableTcp
    bucket: str
    runners: list[threading.Thread] = field(default_factory=list)

    def output_checks(self, execution_id: str) -> bytes:
        """What the API sends to check an attempt's outputs before it takes the report."""
        return f"HEAD /{self.bucket}/executions/{execution_id}/".encode()


@pytest.fixture
def storage_behind_relay(api_settings, worker_headers, s3_endpoint
                         ) -> Iterator[StorageBehindRelay]:
    bucket = "rgrid-relayed-" + secrets.token_hex(4)
    with CuttableTcp(urlparse(s3_endpoint).port) as relay:
        settings = api_settings.model_copy(update={
            "storage_backend": "s3", "s3_endpoint": relay.url, "s3_bucket": bucket,
            "s3_access_key": "test-access", "s3_secret_key": SecretStr("test-secret")})
        with TestClient(create_app(settings), headers=worker_headers) as api:
            storage = StorageBehindRelay(api, ControlPlane(api), relay, bucket)
            yield storage
            relay.allow_all()  # a failed test's worker finishes before the relay goes
            for runner in storage.runners:
                runner.join(timeout=120)
