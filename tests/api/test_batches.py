"""Batches through the API: items recorded as executions, the batch's flow run created,
counts, account isolation, the worker's plan and fail-fast cancel."""

from __future__ import annotations

from prefect.client.orchestration import SyncPrefectClient

from rgrid_common.status import ExecutionStatus
from tests.api.conftest import HELLO, TEST_WORKER, Caller

BATCH = {key: HELLO[key] for key in ("script_name", "script_content", "env")}


def _create(caller: Caller, items: int = 3, **overrides) -> dict:
    response = caller.post("/api/v1/batches", {
        **BATCH, "items": [{"args": [f"f{i}.csv"]} for i in range(items)], "parallel": 2,
        **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_batch_records_its_items_and_one_flow_run(alice, api_settings):
    batch = _create(alice)

    assert batch["total"] == 3 and batch["status"] == "running"
    assert batch["counts"]["queued"] == 3
    items = alice.get(f"/api/v1/batches/{batch['id']}/executions").json()["executions"]
    assert [(e["batch_index"], e["args"]) for e in items] == [
        (0, ["f0.csv"]), (1, ["f1.csv"]), (2, ["f2.csv"])]
    assert all(e["batch_id"] == batch["id"] and e["flow_run_id"] is None for e in items)
    with SyncPrefectClient(api=api_settings.prefect_api_url) as client:
        flow_run = client.read_flow_run(batch["flow_run_id"])
    assert flow_run.name == batch["id"] and flow_run.parameters == {"batch_id": batch["id"]}


def test_another_account_cannot_see_a_batch(alice, bob):
    batch = _create(alice)
    assert bob.get(f"/api/v1/batches/{batch['id']}").status_code == 404
    assert bob.get(f"/api/v1/batches/{batch['id']}/executions").status_code == 404


def test_a_bad_batch_is_refused_whole(alice):
    before = len(alice.get("/api/v1/executions?limit=500").json()["executions"])
    assert alice.post("/api/v1/batches", {**BATCH, "items": []}).status_code == 422
    response = alice.post("/api/v1/batches", {**BATCH, "items": [
        {"args": ["a"]}, {"args": ["b"], "inputs": [{"name": "b", "sha256": "c" * 64, "size": 1,
                                                      "arg_indexes": [0]}]}]})
    assert response.status_code == 400
    assert len(alice.get("/api/v1/executions?limit=500").json()["executions"]) == before


def test_the_worker_plans_cancels_the_rest_and_finishes(api, alice, worker_headers):
    batch = _create(alice, items=4, fail_fast=True)
    base = f"/api/v1/worker/batches/{batch['id']}"

    plan = api.post(f"{base}/plan", headers=worker_headers).json()
    assert (plan["parallel"], plan["fail_fast"], plan["queued"], plan["running"]) == (
        2, True, 4, 0)
    assert api.post(f"{base}/plan").status_code == 401, "the worker token is required"

    cancelled = api.post(f"{base}/cancel-queued", json={"reason": "fail-fast"},
                         headers=worker_headers).json()
    assert cancelled == {"cancelled": 4}
    assert api.post(f"{base}/finish", headers=worker_headers).status_code == 204
    public = alice.get(f"/api/v1/batches/{batch['id']}").json()
    assert public["status"] == "finished" and public["counts"]["cancelled"] == 4


def test_only_a_finished_execution_of_ones_own_can_be_retried(alice, bob):
    execution = alice.post("/api/v1/executions", HELLO).json()  # queued: no worker serves it
    response = alice.post(f"/api/v1/executions/{execution['id']}/retry", {})
    assert response.status_code == 409
    assert "only a finished execution can be retried" in response.json()["message"]
    assert bob.post(f"/api/v1/executions/{execution['id']}/retry", {}).status_code == 404


def test_a_running_batch_cannot_be_retried(alice):
    batch = _create(alice)
    response = alice.post("/api/v1/executions/retry", {"batch_id": batch["id"]})
    assert response.status_code == 409
    assert "still running" in response.json()["message"]


def test_shards_claim_items_in_order_never_more_than_parallel_at_once(
        api, alice, worker_headers):
    batch = _create(alice, items=3)  # parallel 2
    base = f"/api/v1/worker/batches/{batch['id']}"

    def claim(shard: str):
        return api.post(f"{base}/claim-next", json={"flow_run_id": shard, "worker": TEST_WORKER},
                        headers=worker_headers)

    first, second, third = claim("shard-0"), claim("shard-1"), claim("shard-2")
    assert [r.status_code for r in (first, second, third)] == [200, 200, 204], \
        "the third item must wait while two run"
    finished = api.post(f"/api/v1/worker/executions/{first.json()['execution_id']}/finish",
                        json={"status": "succeeded", "exit_code": 0,
                              "attempt": first.json()["attempt"]}, headers=worker_headers)
    assert finished.status_code == 204
    fourth, fifth = claim("shard-2"), claim("shard-0")
    assert [fourth.status_code, fifth.status_code] == [200, 204]

    items = alice.get(f"/api/v1/batches/{batch['id']}/executions").json()["executions"]
    assert [r.json()["execution_id"] for r in (first, second, fourth)] == [
        item["id"] for item in items], "each item claimed once, in order"
    plan = api.post(f"{base}/plan", headers=worker_headers).json()
    assert (plan["queued"], plan["running"]) == (0, 2)


def test_a_claim_sent_again_gets_the_item_its_shard_already_holds(
        api, alice, worker_headers):
    """A claim taken whose answer was lost (a 503 after the commit, the connection cut) is
    sent again: the shard gets the same item, not a second one while the first stays
    claimed until the sweep runs it again (the chaos suite, PostgreSQL restarted)."""
    batch = _create(alice, items=3, parallel=3)
    base = f"/api/v1/worker/batches/{batch['id']}"

    def claim(shard: str) -> dict:
        response = api.post(f"{base}/claim-next", headers=worker_headers,
                            json={"flow_run_id": shard, "worker": TEST_WORKER})
        assert response.status_code == 200, response.text
        return response.json()

    first, again, other = claim("shard-0"), claim("shard-0"), claim("shard-1")

    assert (again["execution_id"], again["attempt"]) == (first["execution_id"],
                                                         first["attempt"])
    assert other["execution_id"] != first["execution_id"]
    counts = alice.get(f"/api/v1/batches/{batch['id']}").json()["counts"]
    assert (counts["running"], counts["queued"]) == (2, 1)


def test_a_finish_that_claims_the_next_item_answers_with_it_and_again_with_the_same(
        api, alice, worker_headers):
    """A shard's report carries the claim of its next item (one request between two
    items). Sent again (its answer lost), the report is a no-op and the claim gets the
    item already held; with nothing left to start, the answer is 204."""
    batch = _create(alice, items=2, parallel=1)
    shard = {"flow_run_id": "shard-0", "worker": TEST_WORKER}
    first = api.post(f"/api/v1/worker/batches/{batch['id']}/claim-next", json=shard,
                     headers=worker_headers).json()

    def finish(job: dict) -> tuple[int, dict | None]:
        response = api.post(
            f"/api/v1/worker/executions/{job['execution_id']}/finish",
            json={"status": "succeeded", "exit_code": 0, "attempt": job["attempt"],
                  "then_claim": {**shard, "batch_id": batch["id"]}},
            headers=worker_headers)
        return response.status_code, response.json() if response.content else None

    (code, second), (code_again, second_again) = finish(first), finish(first)

    assert (code, code_again) == (200, 200)
    assert second["execution_id"] != first["execution_id"]
    assert (second_again["execution_id"], second_again["attempt"]) == (
        second["execution_id"], second["attempt"])
    assert finish(second) == (204, None), "nothing left: the report taken, no item"
    counts = alice.get(f"/api/v1/batches/{batch['id']}").json()["counts"]
    assert (counts["succeeded"], counts["running"], counts["queued"]) == (2, 0, 0)


def test_a_report_whose_claim_cannot_be_made_is_not_taken_either(api, alice, worker_headers):
    """The report and its claim are one transaction: a claim refused (here, of a batch
    that does not exist) leaves the item running as it was, for the report sent again
    (or the sweep) to end, never a report taken behind an error."""
    batch = _create(alice, items=2, parallel=1)
    shard = {"flow_run_id": "shard-0", "worker": TEST_WORKER}
    job = api.post(f"/api/v1/worker/batches/{batch['id']}/claim-next", json=shard,
                   headers=worker_headers).json()

    refused = api.post(f"/api/v1/worker/executions/{job['execution_id']}/finish",
                       json={"status": "succeeded", "exit_code": 0, "attempt": job["attempt"],
                             "then_claim": {**shard, "batch_id": "bat_missing"}},
                       headers=worker_headers)

    assert refused.status_code == 404, refused.text
    item = alice.get(f"/api/v1/executions/{job['execution_id']}").json()
    assert (item["status"], item["exit_code"]) == ("running", None)
    counts = alice.get(f"/api/v1/batches/{batch['id']}").json()["counts"]
    assert (counts["running"], counts["queued"], counts["succeeded"]) == (1, 1, 0)


def test_a_stale_report_claims_nothing(api, alice, worker_headers):
    batch = _create(alice, items=2, parallel=2)
    shard = {"flow_run_id": "shard-0", "worker": TEST_WORKER}
    job = api.post(f"/api/v1/worker/batches/{batch['id']}/claim-next", json=shard,
                   headers=worker_headers).json()

    stale = api.post(f"/api/v1/worker/executions/{job['execution_id']}/finish",
                     json={"status": "succeeded", "attempt": job["attempt"] + 1,
                           "then_claim": {**shard, "batch_id": batch["id"]}},
                     headers=worker_headers)

    assert stale.status_code == 409
    counts = alice.get(f"/api/v1/batches/{batch['id']}").json()["counts"]
    assert (counts["running"], counts["queued"]) == (1, 1)


def test_a_cancelled_batch_stops_every_item_and_its_coordinator_is_told(
        api, alice, worker_headers):
    batch = _create(alice, items=3)  # parallel 2
    base = f"/api/v1/worker/batches/{batch['id']}"
    running = api.post(f"{base}/claim-next", json={"flow_run_id": "shard-0", "worker": TEST_WORKER},
                       headers=worker_headers).json()

    cancelled = alice.post(f"/api/v1/batches/{batch['id']}/cancel", {})

    assert cancelled.json() == {"id": batch["id"], "status": "cancelled", "cancelled": 3}
    counts = alice.get(f"/api/v1/batches/{batch['id']}").json()["counts"]
    assert (counts["cancelled"], counts["queued"], counts["running"]) == (3, 0, 0)
    plan = api.post(f"{base}/plan", headers=worker_headers).json()
    assert (plan["queued"], plan["running"], plan["cancelled"]) == (0, 0, True)
    assert api.post(f"{base}/claim-next", json={"flow_run_id": "shard-1", "worker": TEST_WORKER},
                    headers=worker_headers).status_code == 204
    heartbeat = api.post(f"/api/v1/worker/executions/{running['execution_id']}/heartbeat",
                         json={"attempt": 1}, headers=worker_headers)
    assert heartbeat.status_code == 409, "the running item's worker stops it"
    assert api.post(f"{base}/finish", headers=worker_headers).status_code == 204
    again = alice.post(f"/api/v1/batches/{batch['id']}/cancel", {}).json()
    assert (again["status"], again["cancelled"]) == ("cancelled", 0), \
        "the coordinator's finish leaves a cancelled batch cancelled"


def test_a_batchs_mean_item_time_is_that_of_its_items_that_ran(alice, api_settings):
    """Counted as items move (on both databases): items not started or not finished are
    left out."""
    from datetime import datetime, timedelta, timezone

    from rgrid_api.core.db import session_scope
    from rgrid_api.models import Execution
    from rgrid_api.services import lifecycle

    batch = _create(alice, items=3)
    items = alice.get(f"/api/v1/batches/{batch['id']}/executions").json()["executions"]
    start = datetime(2026, 11, 28, 23, 59, 59, 250_000, tzinfo=timezone.utc)
    for session in session_scope(api_settings.database_url):
        for item in items:
            lifecycle.claim(session, item["id"], flow_run_id="fr", worker="w", now=start)
        for item, seconds in zip(items[:2], (1.5, 2.75)):  # the third still runs
            lifecycle.finish(session, session.get(Execution, item["id"]),
                             ExecutionStatus.SUCCEEDED, now=start + timedelta(seconds=seconds))
        session.commit()
    assert alice.get(f"/api/v1/batches/{batch['id']}").json()["mean_duration_seconds"] == \
        2.125


def test_the_report_of_a_batchs_last_item_finishes_the_batch(api, alice, worker_headers):
    """Its followers hear of its end with its last item's, not at the coordinator's next
    look (no coordinator runs here: the API tests' pool has no worker)."""
    batch = _create(alice, items=2, parallel=2)
    claim = f"/api/v1/worker/batches/{batch['id']}/claim-next"
    jobs = [api.post(claim, json={"flow_run_id": f"shard-{n}", "worker": TEST_WORKER},
                     headers=worker_headers).json() for n in range(2)]

    def finish(job: dict) -> dict:
        assert api.post(f"/api/v1/worker/executions/{job['execution_id']}/finish",
                        json={"status": "failed", "exit_code": 1, "attempt": job["attempt"]},
                        headers=worker_headers).status_code == 204
        return alice.get(f"/api/v1/batches/{batch['id']}").json()

    assert finish(jobs[0])["status"] == "running", "one item still runs"
    ended = finish(jobs[1])
    assert (ended["status"], ended["counts"]["failed"]) == ("finished", 2)
    assert ended["finished_at"] is not None
