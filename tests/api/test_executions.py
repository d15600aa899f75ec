from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import SyncPrefectClient
from sqlalchemy import create_engine, func, select

from rgrid_api.main import create_app
from rgrid_api.models import Execution
from tests.api.conftest import HELLO, submit
from tests.helpers import free_port


def test_creating_an_execution_records_it_queued_and_creates_a_prefect_flow_run(
        alice, api_settings):
    execution = submit(alice)
    assert execution["status"] == "queued"
    assert execution["runtime"] == "python3.11"
    assert (execution["memory_mb"], execution["cpus"], execution["timeout_seconds"],
            execution["disk_mb"]) == (512, 1.0, 300, 1024)
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


def test_when_prefect_cannot_take_the_flow_run_nothing_is_left_behind(api_settings, alice):
    broken = api_settings.model_copy(update={"execute_deployment": "rgrid-execute/missing"})
    with TestClient(create_app(broken)) as client:
        response = client.post("/api/v1/executions", json=HELLO, headers=alice.headers)
    assert response.status_code == 503
    assert "not registered" in response.json()["message"]
    engine = create_engine(api_settings.database_url)
    try:
        with engine.connect() as connection:
            count = connection.scalar(select(func.count()).select_from(Execution).where(
                Execution.account_id == alice.account["id"]))
    finally:
        engine.dispose()
    assert count == 0


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


def test_unreachable_prefect_server_is_a_503_that_says_so(api_settings, alice):
    down = api_settings.model_copy(
        update={"prefect_api_url": f"http://127.0.0.1:{free_port()}/api"})
    with TestClient(create_app(down)) as client:
        response = client.post("/api/v1/executions", json=HELLO, headers=alice.headers)
    assert response.status_code == 503
    assert "is not reachable" in response.json()["message"]
    assert "Start it" in response.json()["hint"]
