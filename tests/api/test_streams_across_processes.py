"""Two API processes on one PostgreSQL database: a stream opened on one hears what a
worker posts to the other (LISTEN/NOTIFY), and keeps hearing after PostgreSQL drops the
listening connection. The streams' safety-net re-read is an hour: only a notification
can deliver in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from secrets import token_hex

import httpx
import pytest
from sqlalchemy import create_engine, text
from websockets.sync.client import connect

from devstack.environment import environment_for
from rgrid_api.core.config import Settings
from rgrid_api.core.events import LISTENER_NAME
from tests.api.conftest import HELLO, TEST_WORKER
from tests.helpers import free_port, wait_for

WAIT_SECONDS = 20


class ApiProcess:
    def __init__(self, settings: Settings, log_path) -> None:
        self.url = f"http://127.0.0.1:{settings.port}"
        env = {**os.environ, **environment_for(Settings, **settings.model_dump())}
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "rgrid_api"], env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, timeout=60, what=f"the API at {self.url}",
                 explain=lambda: log_path.read_text()[-2000:])

    def _healthy(self) -> bool:
        assert self.process.poll() is None, "the API process ended"
        try:
            return httpx.get(f"{self.url}/api/health").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def two_apis(stack, idle_deployment: str, new_postgres_database,
             tmp_path_factory) -> Iterator[tuple[ApiProcess, ApiProcess, Settings]]:
    database = new_postgres_database()
    logs = tmp_path_factory.mktemp("two-apis")
    shared = dict(database_url=database, prefect_api_url=stack.settings.prefect_api_url,
                  execute_deployment=idle_deployment, admin_key="admin-" + token_hex(8),
                  control_token="control-" + token_hex(8), storage_dir=logs / "objects",
                  storage_signing_key="sign-" + token_hex(16), stream_recheck_seconds=3600)
    apis: list[ApiProcess] = []
    try:
        for name in ("a", "b"):  # one after the other: the first migrates the database
            port = free_port()
            settings = Settings(**shared, port=port, public_url=f"http://127.0.0.1:{port}")
            apis.append(ApiProcess(settings, logs / f"api-{name}.log"))
        yield apis[0], apis[1], settings
    finally:
        for api in apis:
            api.stop()


def _listeners(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
            "AND datname = current_database()"),
            {"name": LISTENER_NAME})
    engine.dispose()
    return count


def _terminate_listeners(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        killed = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :name AND datname = current_database()"),
            {"name": LISTENER_NAME}).all()
    engine.dispose()
    return len(killed)


def test_a_stream_on_one_api_process_hears_a_worker_posting_to_another(two_apis):
    api_a, api_b, settings = two_apis
    admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
    control = {"Authorization": f"Bearer {settings.control_token.get_secret_value()}"}
    account = httpx.post(f"{api_a.url}/api/v1/accounts", json={"name": "two-apis"},
                         headers=admin).json()
    user = {"Authorization": f"Bearer {account['api_key']}"}
    token = httpx.post(f"{api_b.url}/api/v1/control/worker-tokens",
                       json={"worker": TEST_WORKER}, headers=control).json()["token"]
    worker = {"Authorization": f"Bearer {token}"}
    execution = httpx.post(f"{api_a.url}/api/v1/executions", json=HELLO, headers=user).json()
    base = f"{api_b.url}/api/v1/worker/executions/{execution['id']}"

    def post_line(seq: int) -> None:
        response = httpx.post(f"{base}/logs", headers=worker, json={
            "chunks": [{"seq": seq, "stream": "stdout", "data": f"line {seq}\n"}]})
        assert response.status_code == 204, response.text

    stream_url = (api_a.url.replace("http", "ws") +
                  f"/api/v1/executions/{execution['id']}/stream")
    with connect(stream_url, additional_headers=user, open_timeout=10) as ws:
        def receive() -> dict:
            return json.loads(ws.recv(timeout=WAIT_SECONDS))

        assert receive()["status"] == "queued"
        claimed = httpx.post(f"{base}/claim", headers=worker,
                             json={"flow_run_id": "fr", "worker": TEST_WORKER})
        assert claimed.status_code == 200, claimed.text
        assert receive()["status"] == "running"
        post_line(0)
        assert receive()["data"] == "line 0\n"

        assert _terminate_listeners(settings.database_url) == 2
        wait_for(lambda: _listeners(settings.database_url) == 2, timeout=WAIT_SECONDS,
                 what="both API processes to listen again")
        post_line(1)
        assert receive()["data"] == "line 1\n"
        finished = httpx.post(f"{base}/finish", headers=worker,
                              json={"status": "succeeded", "exit_code": 0})
        assert finished.status_code == 204, finished.text
        messages = [receive(), receive()]
    assert [m["type"] for m in messages] == ["status", "end"]
