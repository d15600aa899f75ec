from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import SyncPrefectClient

from rgrid_api.main import create_app
from tests.api.conftest import HELLO, submit, with_flow_run
from tests.cuttable_socket import CuttableTcp
from tests.helpers import wait_for


def test_creating_an_execution_records_it_queued_and_creates_a_prefect_flow_run(
        alice, api_settings):
    execution = submit(alice)
    assert execution["status"] == "queued"
    assert execution["runtime"] == "python3.11"
    assert (execution["memory_mb"], execution["cpus"], execution["timeout_seconds"],
            execution["disk_mb"]) == (512, 1.0, 300, 1024)
    assert execution["flow_run_id"] is None, "the starter makes it after the answer"
    execution = with_flow_run(alice, execution)
    with SyncPrefectClient(api=api_settings.prefect_api_url) as prefect:
        flow_run = prefect.read_flow_run(UUID(execution["flow_run_id"]))
    assert flow_run.parameters == {"execution_id": execution["id"]}
    assert flow_run.name == execution["id"]


def test_runtime_is_inferred_from_the_extension(alice):
    assert submit(alice, script_name="app.js")["runtime"] == "node20"


def test_unknown_runtime_lists_the_known_ones(alice):
    response = alice.post("/api/v1/executions", {**HELLO, "runtime": "cobol"})
    assert response.status_code == 400
    assert "python3.11" in response.json()["hint"] and "node20" in response.json()["hint"]


@pytest.mark.parametrize("limit", ["memory_mb", "disk_mb"])
def test_limits_above_the_maximum_are_refused(alice, api_settings, limit):
    maximum = getattr(api_settings, f"max_{limit}")
    response = alice.post("/api/v1/executions", {**HELLO, limit: maximum + 1})
    assert response.status_code == 400
    assert f"exceeds the maximum of {maximum} MB" in response.json()["message"]


def test_script_name_with_a_path_is_refused(alice):
    response = alice.post("/api/v1/executions", {**HELLO, "script_name": "../etc/passwd"})
    assert response.status_code == 400


def test_another_account_gets_404_for_an_execution_and_its_logs(alice, bob):
    execution = submit(alice)
    assert bob.get(f"/api/v1/executions/{execution['id']}").status_code == 404
    assert bob.get(f"/api/v1/executions/{execution['id']}/logs").status_code == 404
    assert alice.get(f"/api/v1/executions/{execution['id']}").status_code == 200


def test_list_shows_only_the_callers_executions_and_filters_by_status(alice, bob):
    mine = submit(alice)
    submit(bob)
    listed = alice.get("/api/v1/executions").json()["executions"]
    assert [e["id"] for e in listed] == [mine["id"]]
    assert alice.get("/api/v1/executions", params={"status": "succeeded"}).json() == {
        "executions": [], "next_cursor": None}


def _own_app(api_settings, tmp_path, **changes) -> tuple[TestClient, dict[str, str]]:
    """An app on a database of its own (no other test's API starts its executions), with
    an account's headers."""
    settings = api_settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'rgrid.db'}", **changes})
    client = TestClient(create_app(settings))
    client.__enter__()
    admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
    key = client.post("/api/v1/accounts", json={"name": "waiting"},
                      headers=admin).json()["api_key"]
    return client, {"Authorization": f"Bearer {key}"}


def _log(client: TestClient, headers, execution_id: str) -> list[str]:
    return [chunk["data"] for chunk in client.get(
        f"/api/v1/executions/{execution_id}/logs", headers=headers).json()["chunks"]]


def test_while_prefect_cannot_take_the_flow_run_the_run_waits_and_its_log_says_why(
        api_settings, tmp_path):
    client, headers = _own_app(api_settings, tmp_path,
                               execute_deployment="rgrid-execute/missing")
    try:
        response = client.post("/api/v1/executions", json=HELLO, headers=headers)
        assert response.status_code == 201, "the submission is kept, not refused"
        execution_id = response.json()["id"]
        told = wait_for(lambda: _log(client, headers, execution_id), timeout=60,
                        what="the note of why the run waits", every=0.1)
        cancelled = client.post(f"/api/v1/executions/{execution_id}/cancel", headers=headers)
    finally:
        client.__exit__(None, None, None)
    assert len(told) == 1
    assert told[0].startswith("[rgrid] waiting for Prefect to take the run: The Prefect "
                              "deployment 'rgrid-execute/missing' is not registered.")
    assert "Register it with `./scripts/dev up`" in told[0]
    assert cancelled.json()["status"] == "cancelled", "a waiting run can be cancelled"


def test_a_run_submitted_while_prefect_is_down_starts_when_it_is_back(
        api_settings, stack, tmp_path):
    prefect_port = int(api_settings.prefect_api_url.split(":")[-1].split("/")[0])
    with CuttableTcp(prefect_port) as relay:
        relay.down()
        client, headers = _own_app(api_settings, tmp_path, prefect_api_url=relay.url + "/api")
        try:
            response = client.post("/api/v1/executions", json=HELLO, headers=headers)
            assert response.status_code == 201
            execution_id = response.json()["id"]
            told = wait_for(lambda: _log(client, headers, execution_id), timeout=60,
                            what="the note of why the run waits", every=0.1)
            assert client.get(f"/api/v1/executions/{execution_id}",
                              headers=headers).json()["flow_run_id"] is None
            relay.up()
            started = wait_for(
                lambda: client.get(f"/api/v1/executions/{execution_id}",
                                   headers=headers).json()["flow_run_id"],
                timeout=60, what="the flow run once Prefect is back", every=0.1)
            log = _log(client, headers, execution_id)
        finally:
            client.__exit__(None, None, None)
    assert f"The Prefect server at {relay.url}/api is not reachable." in told[0]
    assert "Start it" in told[0]
    assert log == told, "told once, however many tries it took"
    with SyncPrefectClient(api=api_settings.prefect_api_url) as prefect:
        assert prefect.read_flow_run(UUID(started)).parameters == {
            "execution_id": execution_id}


def test_oversized_request_is_refused_before_it_is_read(alice, api_settings):
    body = {**HELLO, "script_content": "#" * (api_settings.max_request_bytes + 1)}
    response = alice.post("/api/v1/executions", body)
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_script_over_the_maximum_is_refused(alice, api_settings):
    body = {**HELLO, "script_content": "#" * (api_settings.max_script_bytes + 1)}
    response = alice.post("/api/v1/executions", body)
    assert response.status_code == 400
    assert "larger than" in response.json()["message"]
