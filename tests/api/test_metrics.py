"""``GET /metrics``: Prometheus' format, read from the database, for the admin key only."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import TEST_WORKER, submit


def scrape(api, api_settings) -> dict[tuple[str, tuple], float]:
    response = api.get("/metrics", headers={
        "Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def _status(status: str) -> tuple[str, tuple]:
    return ("rgrid_executions", (("status", status),))


def test_metrics_count_what_happens(api, api_settings, alice, worker_headers):
    before = scrape(api, api_settings)
    queued, finished = submit(alice), submit(alice)
    claimed = api.post(f"/api/v1/worker/executions/{finished['id']}/claim",
                       json={"flow_run_id": "fr", "worker": TEST_WORKER},
                       headers=worker_headers)
    assert claimed.status_code == 200
    assert api.post(f"/api/v1/worker/executions/{finished['id']}/finish",
                    json={"status": "failed", "exit_code": 1},
                    headers=worker_headers).status_code == 204
    after = scrape(api, api_settings)

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


def test_open_streams_are_counted(api, api_settings, alice):
    execution = submit(alice)
    with api.websocket_connect(f"/api/v1/executions/{execution['id']}/stream",
                               headers=alice.headers) as ws:
        ws.receive_json()
        assert scrape(api, api_settings)[("rgrid_open_streams", ())] >= 1


def test_metrics_need_the_admin_key(api, alice):
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=alice.headers).status_code == 401
