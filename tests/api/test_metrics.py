"""``GET /metrics``: Prometheus' format, read from the database, for the admin key only.

On an API of its own, with a database of its own: the counts are the whole database's,
and the shared API's sweep moves other tests' executions at any moment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from rgrid_api.main import create_app
from tests.api.conftest import TEST_WORKER, Caller, submit


@pytest.fixture(scope="module")
def quiet(api_settings, database_url, new_postgres_database,
          tmp_path_factory) -> Iterator[tuple[TestClient, Caller, dict]]:
    """An app on a fresh database; its account and a worker's headers."""
    fresh = (new_postgres_database() if database_url.startswith("postgresql")
             else f"sqlite:///{tmp_path_factory.mktemp('metrics-db') / 'rgrid.db'}")
    settings = api_settings.model_copy(update={"database_url": fresh})
    with TestClient(create_app(settings)) as client:
        admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
        control = {"Authorization": f"Bearer {settings.control_token.get_secret_value()}"}
        account = client.post("/api/v1/accounts", json={"name": "metrics"}, headers=admin)
        assert account.status_code == 201, account.text
        token = client.post("/api/v1/control/worker-tokens", json={"worker": TEST_WORKER},
                            headers=control).json()["token"]
        yield (client, Caller(client, account.json()["api_key"], account.json()),
               {"Authorization": f"Bearer {token}"})


def scrape(client, api_settings) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={
        "Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def _status(status: str) -> tuple[str, tuple]:
    return ("rgrid_executions", (("status", status),))


def test_metrics_count_what_happens(quiet, api_settings):
    client, carol, worker_headers = quiet
    before = scrape(client, api_settings)
    queued, finished = submit(carol), submit(carol)
    claimed = client.post(f"/api/v1/worker/executions/{finished['id']}/claim",
                          json={"flow_run_id": "fr", "worker": TEST_WORKER},
                          headers=worker_headers)
    assert claimed.status_code == 200
    assert client.post(f"/api/v1/worker/executions/{finished['id']}/finish",
                       json={"status": "failed", "exit_code": 1},
                       headers=worker_headers).status_code == 204
    after = scrape(client, api_settings)

    def grew(key) -> float:
        return after[key] - before.get(key, 0)

    assert queued["status"] == "queued"
    assert grew(_status("queued")) == 1
    assert grew(("rgrid_queue_depth", ())) == 1
    assert grew(_status("failed")) == 1
    assert grew(("rgrid_execution_duration_seconds_count", ())) == 1
    assert grew(("rgrid_result_cache_lookups_total", (("outcome", "miss"),))) == 2
    assert ("rgrid_nodes", (("state", "ready"),)) in after
    assert ("rgrid_open_streams", ()) in after
    assert ("rgrid_flow_runs_waiting", ()) in after


def test_open_streams_are_counted(quiet, api_settings):
    client, carol, _ = quiet
    execution = submit(carol)
    with client.websocket_connect(f"/api/v1/executions/{execution['id']}/stream",
                                  headers=carol.headers) as ws:
        ws.receive_json()
        assert scrape(client, api_settings)[("rgrid_open_streams", ())] >= 1


def test_metrics_need_the_admin_key(api, alice):
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=alice.headers).status_code == 401
