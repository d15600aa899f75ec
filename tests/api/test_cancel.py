"""Cancel through the API: a queued execution never starts and its flow run is Cancelled
in Prefect; a running one refuses its worker's heartbeat (which stops the container) but
keeps the outputs the worker reports; a finished one is left as it is; another account's
id is not found. The deployment here has no worker, so flow runs stay where they are."""

from __future__ import annotations

import hashlib

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType

from tests.api.conftest import TEST_WORKER, submit, with_flow_run

WORKER = "/api/v1/worker/executions"


def _cancel(caller, execution_id: str) -> dict:
    response = caller.client.post(f"/api/v1/executions/{execution_id}/cancel",
                                  headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_queued_execution_is_cancelled_and_its_flow_run_too(alice, api, worker_headers,
                                                              api_settings):
    execution = with_flow_run(alice, submit(alice))

    assert _cancel(alice, execution["id"]) == {"id": execution["id"], "status": "cancelled",
                                               "cancelled": 1}

    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        flow_run = client.read_flow_run(execution["flow_run_id"])
    assert flow_run.state.type == StateType.CANCELLED
    claim = api.post(f"{WORKER}/{execution['id']}/claim",
                     json={"flow_run_id": "late-run", "worker": TEST_WORKER}, headers=worker_headers)
    assert claim.status_code == 409, "a cancelled execution never starts"
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["started_at"], state["worker"]) == ("cancelled", None, None)
    assert state["error"] == "cancelled by its owner (rgrid cancel)"
    logs = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert [chunk["data"] for chunk in logs] == ["[rgrid] cancelled by its owner (rgrid cancel)\n"]


def test_a_running_execution_refuses_its_heartbeat_and_keeps_what_its_worker_reports(
        alice, api, worker_headers):
    execution = submit(alice)
    base = f"{WORKER}/{execution['id']}"
    assert api.post(f"{base}/claim", json={"flow_run_id": "fr-1", "worker": TEST_WORKER},
                    headers=worker_headers).status_code == 200

    assert _cancel(alice, execution["id"])["cancelled"] == 1

    heartbeat = api.post(f"{base}/heartbeat", json={"attempt": 1}, headers=worker_headers)
    assert heartbeat.status_code == 409, "the worker learns it at its next heartbeat"
    partial = b"half done\n"
    files = [{"path": "partial.txt", "size": len(partial),
              "sha256": hashlib.sha256(partial).hexdigest()}]
    uploads = api.post(f"{base}/output-uploads", json={"files": files, "attempt": 1},
                       headers=worker_headers)
    assert uploads.status_code == 200, uploads.text
    [upload] = uploads.json()["uploads"]
    assert api.put(upload["url"], content=partial).status_code == 200
    finished = api.post(f"{base}/finish", json={"status": "failed", "exit_code": 137,
                                                "attempt": 1, "outputs": files},
                        headers=worker_headers)
    assert finished.status_code == 204, finished.text

    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["exit_code"]) == ("cancelled", None)
    outputs = alice.get(f"/api/v1/executions/{execution['id']}/artifacts").json()["artifacts"]
    assert [(a["kind"], a["path"]) for a in outputs if a["kind"] == "output"] == [
        ("output", "partial.txt")]


def test_a_finished_execution_is_left_as_it_is(alice, api, worker_headers):
    execution = submit(alice)
    base = f"{WORKER}/{execution['id']}"
    api.post(f"{base}/claim", json={"flow_run_id": "fr-1", "worker": TEST_WORKER},
             headers=worker_headers)
    assert api.post(f"{base}/finish", json={"status": "succeeded", "exit_code": 0,
                                            "attempt": 1},
                    headers=worker_headers).status_code == 204

    assert _cancel(alice, execution["id"]) == {"id": execution["id"], "status": "succeeded",
                                               "cancelled": 0}


def test_another_accounts_execution_and_batch_are_not_found(alice, bob):
    execution = submit(alice)
    for path in (f"/api/v1/executions/{execution['id']}/cancel",
                 "/api/v1/batches/bat_0123456789abcdef/cancel"):
        response = bob.client.post(path, headers=bob.headers)
        assert response.status_code == 404, response.text
    assert alice.get(f"/api/v1/executions/{execution['id']}").json()["status"] == "queued"
