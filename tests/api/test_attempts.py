"""Automatic retries through the API: a worker gives an attempt back (engine or storage
failure) or goes silent (the sweep finds it); the execution is queued again as its next
attempt, up to the limit, and a stale attempt's reports are refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from uuid import UUID

from fastapi.testclient import TestClient
from prefect.client.orchestration import SyncPrefectClient
from prefect.states import Crashed

from rgrid_api.core.db import session_scope
from rgrid_api.models import Execution, utcnow
from rgrid_api.services import attempts
from tests.api.conftest import TEST_WORKER, submit, with_flow_run

WORKER = "/api/v1/worker/executions"


def _claim(api: TestClient, headers: dict, execution_id: str, flow_run: str) -> dict:
    response = api.post(f"{WORKER}/{execution_id}/claim",
                        json={"flow_run_id": flow_run, "worker": TEST_WORKER},
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
            state = with_flow_run(alice, state)
            with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
                flow_run = client.read_flow_run(state["flow_run_id"])
            assert flow_run.name == f"{execution['id']}-attempt-{attempt + 1}", \
                "a single execution's retry gets a flow run of its own"

    assert state["status"] == "failed"
    assert "gave up after 3 attempts" in state["error"]
    assert state["retried_errors"] == [
        f"attempt 1 on {TEST_WORKER}: Docker engine not reachable",
        f"attempt 2 on {TEST_WORKER}: Docker engine not reachable"]
    logs = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert [chunk["data"].strip() for chunk in logs] == [
        f"[rgrid] attempt 1 on {TEST_WORKER}: Docker engine not reachable; retrying "
        "(attempt 2 of 3)",
        f"[rgrid] attempt 2 on {TEST_WORKER}: Docker engine not reachable; retrying "
        "(attempt 3 of 3)",
        f"[rgrid] attempt 3 on {TEST_WORKER}: Docker engine not reachable; giving up after 3 "
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


def _offer_output(api: TestClient, headers: dict, execution_id: str, attempt: int,
                  data: bytes) -> str:
    described = {"path": "result.txt", "size": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
    response = api.post(f"{WORKER}/{execution_id}/output-uploads",
                        json={"attempt": attempt, "files": [described]}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["uploads"][0]["url"]


def test_an_attempt_given_away_cannot_overwrite_the_outputs_of_the_one_that_finished(
        api, alice, worker_headers):
    """A worker cut off from the control plane may land an upload late, after its attempt
    went to another worker: what the finishing attempt wrote is what the user gets."""
    execution = submit(alice)
    _claim(api, worker_headers, execution["id"], "fr-cut-off")
    late_url = _offer_output(api, worker_headers, execution["id"], 1, b"attempt 1\n")
    assert _give_back(api, worker_headers, execution["id"], 1).status_code == 204
    _claim(api, worker_headers, execution["id"], "fr-second")
    data = b"attempt 2\n"
    assert api.put(_offer_output(api, worker_headers, execution["id"], 2, data),
                   content=data).status_code == 200
    finished = api.post(f"{WORKER}/{execution['id']}/finish", headers=worker_headers, json={
        "attempt": 2, "status": "succeeded", "exit_code": 0,
        "outputs": [{"path": "result.txt", "size": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()}]})
    assert finished.status_code == 204, finished.text

    assert api.put(late_url, content=b"attempt 1\n").status_code == 200, \
        "the late upload lands (its URL was signed while its attempt was current)"

    [output] = alice.get(f"/api/v1/executions/{execution['id']}/artifacts",
                         params={"kind": "output"}).json()["artifacts"]
    assert alice.get(output["url"]).content == data


def test_the_sweep_gives_back_what_a_silent_worker_held_and_spares_the_rest(
        api, alice, worker_headers, api_settings):
    silent, alive = with_flow_run(alice, submit(alice)), submit(alice)
    _claim(api, worker_headers, silent["id"], silent["flow_run_id"])  # a real flow run
    _claim(api, worker_headers, alive["id"], "fr-alive")
    for session in session_scope(api_settings.database_url):
        # what a worker that died after its last beat leaves behind
        silence = timedelta(seconds=api_settings.lost_after_seconds + 1)
        session.get(Execution, silent["id"]).heartbeat_at = utcnow() - silence
        session.commit()
        given_back = attempts.sweep(session, settings=api_settings,
                                    scheduler=api.app.state.scheduler,
                                    starter=api.app.state.starter, now=utcnow())

    assert silent["id"] in given_back and alive["id"] not in given_back
    state = alice.get(f"/api/v1/executions/{silent['id']}").json()
    assert (state["status"], state["attempt"]) == ("queued", 2)
    assert state["retried_errors"] == [f"attempt 1 on {TEST_WORKER}: the worker "
                                       "stopped responding"]
    assert alice.get(f"/api/v1/executions/{alive['id']}").json()["status"] == "running"
    state = with_flow_run(alice, state)
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        dead = client.read_flow_run(UUID(silent["flow_run_id"]))
    assert dead.state.is_crashed() and "stopped responding" in dead.state.message
    assert state["flow_run_id"] != silent["flow_run_id"], "the retry has a flow run of its own"


def test_silence_is_judged_only_once_the_api_has_been_able_to_hear_that_long(
        api, alice, worker_headers, api_settings):
    """Its database away (or itself restarting), the API heard no heartbeat, but the
    workers were sending them: silence counts from when it could hear again."""
    execution = submit(alice)
    _claim(api, worker_headers, execution["id"], "fr-unheard")
    lost_after = timedelta(seconds=api_settings.lost_after_seconds)
    now = utcnow()
    for session in session_scope(api_settings.database_url):
        session.get(Execution, execution["id"]).heartbeat_at = now - lost_after * 2
        session.commit()

        def sweep(heard_since):
            return attempts.sweep(session, settings=api_settings,
                                  scheduler=api.app.state.scheduler,
                                  starter=api.app.state.starter, now=now,
                                  heard_since=heard_since)

        assert sweep(heard_since=now - lost_after / 2) == []
        assert sweep(heard_since=now - lost_after * 1.5) == [execution["id"]]


def _crash(api_settings, flow_run_id: str, message: str = "killed before it started") -> None:
    """What a worker that died between taking a flow run and claiming leaves: the flow
    run ended, the execution still queued."""
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        client.set_flow_run_state(UUID(flow_run_id), Crashed(message=message), force=True)


def _sweep(api: TestClient, api_settings) -> list[str]:
    for session in session_scope(api_settings.database_url):
        return attempts.sweep(session, settings=api_settings,
                              scheduler=api.app.state.scheduler,
                              starter=api.app.state.starter, now=utcnow())


def test_a_flow_run_that_died_before_claiming_is_replaced_and_the_execution_runs_once(
        api, alice, worker_headers, api_settings):
    execution = with_flow_run(alice, submit(alice))
    _crash(api_settings, execution["flow_run_id"])

    _sweep(api, api_settings)

    state = with_flow_run(alice, execution)
    assert (state["status"], state["attempt"]) == ("queued", 2)
    assert state["retried_errors"] == [
        "attempt 1: its flow run ended before it started (Crashed: killed before it started)"]
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        replacement = client.read_flow_run(UUID(state["flow_run_id"]))
    assert replacement.name == f"{execution['id']}-attempt-2"
    assert replacement.state.is_scheduled()
    assert _claim(api, worker_headers, execution["id"], state["flow_run_id"])["attempt"] == 2
    late = api.post(f"{WORKER}/{execution['id']}/claim",
                    json={"flow_run_id": execution["flow_run_id"], "worker": TEST_WORKER},
                    headers=worker_headers)
    assert late.status_code == 409, "the dead flow run cannot run it as well"
    assert api.post(f"{WORKER}/{execution['id']}/finish", json={
        "attempt": 2, "status": "succeeded", "exit_code": 0},
        headers=worker_headers).status_code == 204
    assert alice.get(f"/api/v1/executions/{execution['id']}").json()["status"] == "succeeded"
    logs = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert logs[0]["data"] == ("[rgrid] attempt 1: its flow run ended before it started "
                               "(Crashed: killed before it started); starting a new one "
                               "(attempt 2 of 3)\n")


def test_an_execution_whose_flow_runs_keep_dying_fails_saying_so(
        api, alice, api_settings):
    execution = submit(alice)
    for _ in range(3):
        current = with_flow_run(alice, execution)["flow_run_id"]
        _crash(api_settings, current, "the node vanished")
        _sweep(api, api_settings)

    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"]) == ("failed", 3)
    assert state["error"] == ("attempt 3: its flow run ended before it started (Crashed: the "
                              "node vanished) (gave up after 3 attempts)")
    assert len(state["retried_errors"]) == 3


def test_a_running_execution_whose_flow_run_ended_is_given_back_without_waiting(
        api, alice, worker_headers, api_settings):
    execution = with_flow_run(alice, submit(alice))
    _claim(api, worker_headers, execution["id"], execution["flow_run_id"])
    _crash(api_settings, execution["flow_run_id"], "its process was killed")

    handled = _sweep(api, api_settings)  # its heartbeat is fresh: only Prefect tells

    assert execution["id"] in handled
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"]) == ("queued", 2)
    assert state["retried_errors"] == [
        f"attempt 1 on {TEST_WORKER}: its flow run ended while it ran "
        "(Crashed: its process was killed)"]
