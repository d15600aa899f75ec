"""Scheduled batches through the API: each schedule is a Prefect deployment with a real
schedule (on a pool no worker serves, so its runs stay scheduled and can be read), firing
makes a normal batch, accounts are kept apart, bad timings are refused."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import ObjectNotFound

from tests.api.conftest import HELLO

BATCH = {**{key: HELLO[key] for key in ("script_name", "script_content", "env")},
         "items": [{"args": ["a.csv"]}, {"args": ["b.csv"]}], "parallel": 2}


def _create(caller, **timing) -> dict:
    response = caller.post("/api/v1/schedules", {**timing, "batch": BATCH})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_schedule_is_a_prefect_deployment_with_its_cron(alice, api_settings):
    schedule = _create(alice, cron="0 * * * *")

    assert (schedule["cron"], schedule["files"], schedule["parallel"]) == ("0 * * * *", 2, 2)
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        deployment = client.read_deployment(UUID(schedule["deployment_id"]))
    assert deployment.name == schedule["id"]
    assert deployment.parameters == {"schedule_id": schedule["id"]}
    assert [s.schedule.cron for s in deployment.schedules] == ["0 * * * *"]
    assert [s["id"] for s in alice.get("/api/v1/schedules").json()["schedules"]] == [
        schedule["id"]]


def test_firing_makes_a_normal_batch_of_the_stored_request(api, alice, worker_headers):
    schedule = _create(alice, every_seconds=3600)

    fired = api.post(f"/api/v1/worker/schedules/{schedule['id']}/fire",
                     headers=worker_headers)

    assert fired.status_code == 201, fired.text
    batch = alice.get(f"/api/v1/batches/{fired.json()['batch_id']}").json()
    assert (batch["total"], batch["schedule_id"], batch["status"]) == (2, schedule["id"],
                                                                       "running")


def test_delete_removes_the_deployment_and_only_the_owner_may(alice, bob, api_settings):
    schedule = _create(alice, cron="*/5 * * * *")
    assert bob.client.delete(f"/api/v1/schedules/{schedule['id']}",
                             headers=bob.headers).status_code == 404
    assert bob.get("/api/v1/schedules").json()["schedules"] == []

    deleted = alice.client.delete(f"/api/v1/schedules/{schedule['id']}",
                                  headers=alice.headers)

    assert deleted.status_code == 204
    assert alice.get("/api/v1/schedules").json()["schedules"] == []
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        try:
            client.read_deployment(UUID(schedule["deployment_id"]))
            raise AssertionError("the deployment should be gone")
        except ObjectNotFound:
            pass


def test_bad_timings_are_refused_with_a_hint(alice):
    bad_cron = alice.post("/api/v1/schedules", {"cron": "every hour", "batch": BATCH})
    assert bad_cron.status_code == 400
    assert "Invalid cron expression 'every hour'" in bad_cron.json()["message"]
    assert "0 * * * *" in bad_cron.json()["hint"]
    assert alice.post("/api/v1/schedules", {"batch": BATCH}).status_code == 422
    assert alice.post("/api/v1/schedules", {"every_seconds": 1, "batch": BATCH}
                      ).status_code == 422
    assert alice.get("/api/v1/schedules").json()["schedules"] == [], "nothing half-made"
