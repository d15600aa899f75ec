"""Tags (``metadata``) and the complete run record of an execution: stored, bounded,
searched (with status, batch, time and pages), inherited by a batch's items, carried by
the Prefect flow run; and the record: script hash, image id, each attempt's worker and
reason, the flow run's link."""

from __future__ import annotations

import hashlib
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient

from tests.api.conftest import HELLO, TEST_WORKER, submit, with_flow_run


def _listed(caller, **params) -> list[str]:
    response = caller.get("/api/v1/executions", params=params)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["executions"]]


def test_tags_are_stored_and_found_alone_or_together(alice, bob):
    run = f"r{id(alice)}"
    first = submit(alice, metadata={"run": run, "team": "a"})
    second = submit(alice, metadata={"run": run, "team": "b"})
    submit(bob, metadata={"run": run, "team": "a"})  # another account's: never listed
    assert alice.get(f"/api/v1/executions/{first['id']}").json()["metadata"] == {
        "run": run, "team": "a"}
    assert _listed(alice, metadata=[f"run={run}"]) == [second["id"], first["id"]]
    assert _listed(alice, metadata=[f"run={run}", "team=a"]) == [first["id"]]
    assert _listed(alice, metadata=[f"run={run}", "team=c"]) == []
    assert _listed(alice, metadata=[f"run={run}"], status="succeeded") == []
    assert _listed(alice, metadata=[f"run={run}"], status="queued") == [second["id"],
                                                                        first["id"]]


def test_listing_pages_by_cursor_and_bounds_by_time(alice):
    run = f"p{id(alice)}"
    made = [submit(alice, metadata={"page": run})["id"] for _ in range(5)]
    pages, cursor = [], None
    while True:
        params = {"metadata": [f"page={run}"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = alice.get("/api/v1/executions", params=params).json()
        pages.append([e["id"] for e in body["executions"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [made[4:2:-1], made[2:0:-1], made[:1]]
    created = alice.get(f"/api/v1/executions/{made[2]}").json()["created_at"]
    assert _listed(alice, metadata=[f"page={run}"], until=created) == made[1::-1]
    assert _listed(alice, metadata=[f"page={run}"], since=created) == made[:1:-1]


@pytest.mark.parametrize("metadata, why", [
    ({"bad key": "v"}, "Invalid metadata key"),
    ({"-dash": "v"}, "Invalid metadata key"),
    ({"k" * 65: "v"}, "Invalid metadata key"),
    ({"k": "v" * 257}, "at most 256"),
    ({f"k{i}": "v" for i in range(21)}, "at most 20"),
    ({"k": "nul\x00"}, "NUL"),
])
def test_bad_tags_are_refused_by_name(alice, metadata, why):
    response = alice.post("/api/v1/executions", {**HELLO, "metadata": metadata})
    assert response.status_code == 422, response.text
    assert why in response.json()["message"]


def test_a_bad_tag_filter_is_refused(alice):
    response = alice.get("/api/v1/executions", params={"metadata": ["novalue"]})
    assert response.status_code == 400
    assert "key=value" in response.json()["hint"]
    response = alice.get("/api/v1/executions", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400


def test_a_batch_and_its_items_carry_its_tags_and_so_do_their_flow_runs(
        alice, api_settings):
    response = alice.post("/api/v1/batches", {
        "script_name": "b.py", "script_content": "print(1)\n", "metadata": {"sweep": "s1"},
        "items": [{"args": ["1"]}, {"args": ["2"]}]})
    assert response.status_code == 201, response.text
    batch = response.json()
    items = alice.get(f"/api/v1/batches/{batch['id']}/executions").json()["executions"]
    assert [item["metadata"] for item in items] == [{"sweep": "s1"}] * 2
    assert set(_listed(alice, metadata=["sweep=s1"], batch_id=batch["id"])) == {
        item["id"] for item in items}
    execution = with_flow_run(alice, submit(alice, metadata={"exp": "e7"}))
    with SyncPrefectClient(api=api_settings.prefect_api_url) as prefect:
        for flow_run_id, tag in ((batch["flow_run_id"], "sweep=s1"),
                                 (execution["flow_run_id"], "exp=e7")):
            assert tag in prefect.read_flow_run(UUID(flow_run_id)).tags


def test_the_record_has_the_script_hash_image_attempts_and_flow_run_link(
        api, alice, api_settings, worker_headers):
    execution = submit(alice)
    base = f"/api/v1/worker/executions/{execution['id']}"
    for attempt in (1, 2):
        flow_run = with_flow_run(alice, execution)["flow_run_id"]
        claimed = api.post(f"{base}/claim", json={"flow_run_id": flow_run,
                                                   "worker": TEST_WORKER},
                           headers=worker_headers)
        assert claimed.status_code == 200, claimed.text
        if attempt == 1:
            assert api.post(f"{base}/give-back", json={"reason": "engine went away",
                                                       "attempt": 1},
                            headers=worker_headers).status_code == 204
    image_id = "sha256:" + "ab" * 32
    assert api.post(f"{base}/finish", json={"status": "succeeded", "exit_code": 0,
                                            "attempt": 2, "image_id": image_id},
                    headers=worker_headers).status_code == 204
    record = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert record["script_sha256"] == hashlib.sha256(HELLO["script_content"].encode()).hexdigest()
    assert (record["image_id"], record["attempt"]) == (image_id, 2)
    assert record["attempts"] == [{"attempt": 1, "worker": TEST_WORKER,
                                   "reason": "engine went away"}]
    assert record["flow_run_url"] == (api_settings.prefect_api_url.removesuffix("/api")
                                      + f"/runs/flow-run/{record['flow_run_id']}")
