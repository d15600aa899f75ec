"""Automatic retries through the API: a worker gives an attempt back (engine or storage
failure) or goes silent (the sweep finds it); the execution is queued again as its next
attempt, up to the limit, and a stale attempt's reports are refused."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from fastapi.testclient import TestClient
from prefect.client.orchestration import SyncPrefectClient

from rgrid_api.core.db import session_scope
from rgrid_api.models import Execution, utcnow
from rgrid_api.services import attempts
from tests.api.conftest import submit

WORKER = "/api/v1/worker/executions"


def _claim(api: TestClient, headers: dict, execution_id: str, flow_run: str) -> dict:
    response = api.post(f"{WORKER}/{execution_id}/claim",
                        json={"flow_run_id": flow_run, "worker": f"node-{flow_run}"},
                        headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _give_back(api: TestClient, headers: dict, execution_id: str, attempt: int):
    return api.post(f"{WORKER}/{execution_id}/give-back",
                    json={"attempt": attempt, "reason": "Docker engine not reachable"},
                    headers=headers)


def test_a_given_back_attempt_is_queued_again_then_failed_when_attempts_are_spent(
        api, alice, worker_headers, api_settings):
    execution = submit(alice)
    for attempt in (1, 2, 3):
        job = _claim(api, worker_headers, execution["id"], f"fr-{attempt}")
        assert job["attempt"] == attempt
        assert _give_back(api, worker_headers, execution["id"], attempt).status_code == 204
        state = alice.get(f"/api/v1/executions/{execution['id']}").json()
        if attempt < 3:
            assert (state["status"], state["attempt"]) == ("queued", attempt + 1)
            with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
                flow_run = client.read_flow_run(state["flow_run_id"])
            assert flow_run.name == f"{execution['id']}-attempt-{attempt + 1}", \
                "a single execution's retry gets a flow run of its own"

    assert state["status"] == "failed"
    assert "gave up after 3 attempts" in state["error"]
    assert state["retried_errors"] == [
        "attempt 1 on node-fr-1: Docker engine not reachable",
        "attempt 2 on node-fr-2: Docker engine not reachable"]
    logs = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert [chunk["data"].strip() for chunk in logs] == [
        "[rgrid] attempt 1 on node-fr-1: Docker engine not reachable; retrying (attempt 2 of 3)",
        "[rgrid] attempt 2 on node-fr-2: Docker engine not reachable; retrying (attempt 3 of 3)",
        "[rgrid] attempt 3 on node-fr-3: Docker engine not reachable; giving up after 3 "
        "attempts"]


def test_a_stale_attempt_can_neither_heartbeat_nor_finish_nor_upload(
        api, alice, worker_headers):
    execution = submit(alice)
    _claim(api, worker_headers, execution["id"], "fr-old")
    assert _give_back(api, worker_headers, execution["id"], 1).status_code == 204
    job = _claim(api, worker_headers, execution["id"], "fr-new")
    assert job["attempt"] == 2 and job["log_seq_start"] == 1, \
        "the new attempt's logs go after the retry note"

    base = f"{WORKER}/{execution['id']}"
    stale = {"attempt": 1}
    assert api.post(f"{base}/heartbeat", json=stale, headers=worker_headers).status_code == 409
    assert api.post(f"{base}/output-uploads", json={**stale, "files": []},
                    headers=worker_headers).status_code == 409
    assert api.post(f"{base}/finish", json={**stale, "status": "succeeded", "exit_code": 0},
                    headers=worker_headers).status_code == 409
    assert api.post(f"{base}/heartbeat", json={"attempt": 2},
                    headers=worker_headers).status_code == 204
    assert api.post(f"{base}/finish", json={"attempt": 2, "status": "succeeded",
                                            "exit_code": 0},
                    headers=worker_headers).status_code == 204
    assert alice.get(f"/api/v1/executions/{execution['id']}").json()["status"] == "succeeded"


def test_the_sweep_gives_back_what_a_silent_worker_held_and_spares_the_rest(
        api, alice, worker_headers, api_settings):
    silent, alive = submit(alice), submit(alice)
    _claim(api, worker_headers, silent["id"], silent["flow_run_id"])  # a real flow run
    _claim(api, worker_headers, alive["id"], "fr-alive")
    for session in session_scope(api_settings.database_url):
        # what a worker that died after its last beat leaves behind
        silence = timedelta(seconds=api_settings.lost_after_seconds + 1)
        session.get(Execution, silent["id"]).heartbeat_at = utcnow() - silence
        session.commit()
        given_back = attempts.sweep(session, settings=api_settings,
                                    scheduler=api.app.state.scheduler, now=utcnow())

    assert silent["id"] in given_back and alive["id"] not in given_back
    state = alice.get(f"/api/v1/executions/{silent['id']}").json()
    assert (state["status"], state["attempt"]) == ("queued", 2)
    assert state["retried_errors"] == [f"attempt 1 on node-{silent['flow_run_id']}: the worker "
                                       "stopped responding"]
    assert alice.get(f"/api/v1/executions/{alive['id']}").json()["status"] == "running"
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        dead = client.read_flow_run(UUID(silent["flow_run_id"]))
    assert dead.state.is_crashed() and "stopped responding" in dead.state.message
    assert state["flow_run_id"] != silent["flow_run_id"], "the retry has a flow run of its own"
