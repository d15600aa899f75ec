"""Small files inside the worker's bodies (``rgrid_common.inline``): an input in the
claim's answer, an output in the finish report, checked and stored once by the API."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from datetime import timedelta

import httpx
import pytest
from minio import Minio

from rgrid_api.storage.s3 import S3ObjectStore
from rgrid_common.inline import INLINE_MAX_BYTES, INLINE_TOTAL_BYTES
from tests.api.conftest import HELLO, TEST_WORKER, Caller
from tests.api.test_artifacts import _offer, _upload

WORKER = "/api/v1/worker/executions"


def _claimed_with_inputs(api, caller: Caller, headers: dict, files: dict[str, bytes]) -> dict:
    names = list(files)
    response = caller.post("/api/v1/executions", {
        **HELLO, "args": names,
        "inputs": [{"name": name, "sha256": _upload(caller, data), "size": len(data),
                    "arg_indexes": [index]} for index, (name, data) in enumerate(files.items())]})
    assert response.status_code == 201, response.text
    claimed = api.post(f"{WORKER}/{response.json()['id']}/claim",
                       json={"flow_run_id": "fr-inline", "worker": TEST_WORKER}, headers=headers)
    assert claimed.status_code == 200, claimed.text
    return claimed.json()


def _inline(data: bytes, path: str = "out.bin", **blob) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "content": base64.b64encode(data).decode(), **blob}


def _finish(api, headers: dict, job: dict, outputs: list[dict]):
    return api.post(f"{WORKER}/{job['execution_id']}/finish", headers=headers, json={
        "attempt": job["attempt"], "status": "succeeded", "exit_code": 0, "outputs": outputs})


def _outputs(caller: Caller, execution_id: str) -> dict[str, dict]:
    listed = caller.get(f"/api/v1/executions/{execution_id}/artifacts", params={"kind": "output"})
    assert listed.status_code == 200, listed.text
    return {artifact["path"]: artifact for artifact in listed.json()["artifacts"]}


def test_a_small_input_rides_in_the_claim_and_a_large_one_keeps_its_url(
        api, alice, worker_headers):
    small, large = b"id,value\n1,2\n", os.urandom(INLINE_MAX_BYTES + 1)

    job = _claimed_with_inputs(api, alice, worker_headers, {"small.csv": small,
                                                            "large.bin": large})

    inputs = {item["name"]: item for item in job["inputs"]}
    assert base64.b64decode(inputs["small.csv"]["content"]) == small
    assert inputs["large.bin"]["content"] is None
    assert api.get(inputs["large.bin"]["url"]).content == large


def test_a_claim_taken_while_storage_is_away_is_answered_with_urls(
        alice, storage_behind_relay):
    """The claim is taken before its inputs are read: an answer that failed then (a 503
    the worker sends again) would leave the item claimed and take another (the chaos
    suite, S3 down 30 s). The small input comes by its URL instead."""
    storage = storage_behind_relay
    on_s3 = Caller(storage.api, alice.key, alice.account)
    small = b"id,value\n1,2\n"
    offer = _offer(on_s3, small)
    httpx.put(offer["url"], content=small).raise_for_status()
    execution = on_s3.post("/api/v1/executions", {
        **HELLO, "args": ["small.csv"], "inputs": [{"name": "small.csv", "size": len(small),
                                                    "sha256": offer["sha256"],
                                                    "arg_indexes": [0]}]}).json()

    reads = storage.relay.refuse(f"GET /{storage.bucket}/".encode())
    claimed = storage.api.post(f"{WORKER}/{execution['id']}/claim",
                               json={"flow_run_id": "fr-inline", "worker": TEST_WORKER})
    storage.relay.allow(f"GET /{storage.bucket}/".encode())

    assert reads.is_set(), "the API did not try to read the input"
    assert claimed.status_code == 200, claimed.text
    [download] = claimed.json()["inputs"]
    assert download["content"] is None
    assert httpx.get(download["url"]).content == small


def test_inputs_ride_inline_only_while_the_claims_budget_lasts(api, alice, worker_headers):
    files = {f"part{index}.bin": os.urandom(INLINE_MAX_BYTES) for index in
             range(INLINE_TOTAL_BYTES // INLINE_MAX_BYTES + 1)}

    job = _claimed_with_inputs(api, alice, worker_headers, files)

    carried = [item for item in job["inputs"] if item["content"] is not None]
    assert len(carried) == INLINE_TOTAL_BYTES // INLINE_MAX_BYTES
    for item in carried:
        assert base64.b64decode(item["content"]) == files[item["name"]]


def test_an_inline_output_is_stored_and_downloadable_like_an_uploaded_one(
        api, alice, worker_headers):
    job = _claimed_with_inputs(api, alice, worker_headers, {})
    text = b"word,count\n" + b"the,11\n" * 300
    packed = gzip.compress(text)

    finished = _finish(api, worker_headers, job, [
        _inline(b"\x00binary\xff", "result.bin"),
        {**_inline(text, "counts.csv", encoding="gzip", stored_size=len(packed)),
         "content": base64.b64encode(packed).decode()}])

    assert finished.status_code == 204, finished.text
    outputs = _outputs(alice, job["execution_id"])
    assert api.get(outputs["result.bin"]["url"]).content == b"\x00binary\xff"
    served = api.get(outputs["counts.csv"]["url"])
    assert served.headers["content-encoding"] == "gzip" and served.content == text
    assert outputs["result.bin"]["content"] is None, "bytes inline only when asked for"
    inline = alice.get(f"/api/v1/executions/{job['execution_id']}/artifacts",
                       params={"inline": "true"}).json()["artifacts"]
    assert {a["path"]: base64.b64decode(a["content"]) for a in inline} == {
        "result.bin": b"\x00binary\xff", "counts.csv": packed}


@pytest.mark.parametrize("broken", [
    {"content": base64.b64encode(b"other bytes").decode()},
    {"content": "not base64!"},
    {"size": 3, "encoding": "gzip", "stored_size": len(gzip.compress(b"a" * 10_000)),
     "sha256": hashlib.sha256(b"aaa").hexdigest(),
     "content": base64.b64encode(gzip.compress(b"a" * 10_000)).decode()},
], ids=["wrong bytes", "not base64", "gzip unpacking past its size"])
def test_an_inline_output_that_is_not_what_it_says_is_refused_and_nothing_is_kept(
        api, api_settings, alice, worker_headers, broken, tmp_path):
    job = _claimed_with_inputs(api, alice, worker_headers, {})

    refused = _finish(api, worker_headers, job, [_inline(b"fine", "a-fine-one.txt"),
                                                 {**_inline(b"the real bytes"), **broken}])

    assert refused.status_code in (400, 422), refused.text
    assert alice.get(f"/api/v1/executions/{job['execution_id']}").json()["status"] == "running"
    assert _outputs(alice, job["execution_id"]) == {}
    attempt_folder = (api_settings.storage_dir / "executions" / job["execution_id"])
    assert not attempt_folder.exists(), "nothing half-kept in the store"


def test_inline_outputs_past_the_reports_budget_are_refused_with_the_reason(
        api, alice, worker_headers):
    job = _claimed_with_inputs(api, alice, worker_headers, {})
    outputs = [_inline(os.urandom(INLINE_MAX_BYTES), f"part{index}.bin")
               for index in range(INLINE_TOTAL_BYTES // INLINE_MAX_BYTES + 1)]

    refused = _finish(api, worker_headers, job, outputs)

    assert refused.status_code == 422
    assert "the rest goes by upload" in refused.text


def test_a_report_sent_again_does_not_store_its_inline_output_again(
        api, api_settings, alice, worker_headers):
    """A report whose answer was lost is sent again; an object written twice is an output
    uploaded twice (on S3, a second version). Cancelled while it ran, the execution takes
    its attempt's outputs and keeps its status: the report is not a no-op then."""
    job = _claimed_with_inputs(api, alice, worker_headers, {})
    cancelled = alice.post(f"/api/v1/executions/{job['execution_id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    output = _inline(b"written before it was stopped\n", "partial.txt")
    assert _finish(api, worker_headers, job, [output]).status_code == 204
    [stored] = (api_settings.storage_dir / "executions" / job["execution_id"]).rglob(
        "partial.txt")  # the storage directory is shared by every API test
    first = stored.stat()

    again = _finish(api, worker_headers, job, [output])

    assert again.status_code == 204, again.text
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == (first.st_ino,
                                                                 first.st_mtime_ns)
    assert list(_outputs(alice, job["execution_id"])) == ["partial.txt"]
    assert alice.get(f"/api/v1/executions/{job['execution_id']}").json()["status"] == \
        "cancelled"


def test_an_inline_output_the_store_holds_already_is_not_written_again(
        api, api_settings, alice, worker_headers):
    """The report of an attempt whose first sending reached the store but not the
    database (the API stopped between them) finds its objects held."""
    job = _claimed_with_inputs(api, alice, worker_headers, {})
    output = _inline(b"kept once\n", "kept.txt")
    offered = api.post(f"{WORKER}/{job['execution_id']}/output-uploads", headers=worker_headers,
                       json={"attempt": job["attempt"], "files": [output]})
    assert api.put(offered.json()["uploads"][0]["url"], content=b"kept once\n").status_code == 200
    [stored] = (api_settings.storage_dir / "executions" / job["execution_id"]).rglob("kept.txt")
    first = stored.stat()

    assert _finish(api, worker_headers, job, [output]).status_code == 204

    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == (first.st_ino,
                                                                 first.st_mtime_ns)
    assert api.get(_outputs(alice, job["execution_id"])["kept.txt"]["url"]).content == \
        b"kept once\n"


def test_a_batchs_finished_outputs_come_in_one_answer_small_ones_inline(
        api, alice, bob, worker_headers):
    batch = alice.post("/api/v1/batches", {
        **{key: HELLO[key] for key in ("script_name", "script_content", "env")},
        "items": [{"args": [f"f{index}.csv"]} for index in range(3)], "parallel": 3})
    assert batch.status_code == 201, batch.text
    batch_id = batch.json()["id"]
    jobs = [api.post(f"/api/v1/worker/batches/{batch_id}/claim-next", headers=worker_headers,
                     json={"flow_run_id": f"shard-{index}", "worker": TEST_WORKER}).json()
            for index in range(3)]
    large = os.urandom(INLINE_MAX_BYTES + 1)
    assert _finish(api, worker_headers, jobs[0], [_inline(b"first\n", "out.txt")]).status_code \
        == 204
    offered = api.post(f"{WORKER}/{jobs[1]['execution_id']}/output-uploads",
                       headers=worker_headers, json={"attempt": jobs[1]["attempt"], "files": [
                           {key: value for key, value in _inline(large).items()
                            if key != "content"}]})
    assert api.put(offered.json()["uploads"][0]["url"], content=large).status_code == 200
    assert _finish(api, worker_headers, jobs[1], [
        {key: value for key, value in _inline(large).items() if key != "content"}]
    ).status_code == 204

    listed = alice.get(f"/api/v1/batches/{batch_id}/outputs")

    assert listed.status_code == 200, listed.text
    items = {item["batch_index"]: item for item in listed.json()["items"]}
    assert sorted(items) == [0, 1], "the running item is not listed"
    [small] = items[0]["outputs"]
    assert base64.b64decode(small["content"]) == b"first\n"
    [uploaded] = items[1]["outputs"]
    assert uploaded["content"] is None and api.get(uploaded["url"]).content == large
    since = alice.get(f"/api/v1/batches/{batch_id}/outputs",
                      params={"finished_since": items[1]["finished_at"]}).json()["items"]
    assert [item["batch_index"] for item in since] == [1]
    assert bob.get(f"/api/v1/batches/{batch_id}/outputs").status_code == 404


def test_the_s3_store_reads_and_writes_small_objects_as_stored(s3_endpoint):
    store = S3ObjectStore(Minio(s3_endpoint.removeprefix("http://"), access_key="k",
                                secret_key="s", secure=False), "rgrid-inline-test")
    store.prepare(retention_days=30)
    packed = gzip.compress(b"a,b\n" * 500)

    store.write("executions/ex_1/attempts/1/outputs/t.csv", packed, encoding="gzip")

    assert store.read("executions/ex_1/attempts/1/outputs/t.csv") == packed, "gzip stays"
    served = httpx.get(store.signed_download("executions/ex_1/attempts/1/outputs/t.csv",
                                             expires=timedelta(minutes=1)))
    assert served.headers["content-encoding"] == "gzip" and served.content == b"a,b\n" * 500
    assert store.stat("executions/ex_1/attempts/1/outputs/t.csv").size == len(packed)
    assert store.read("executions/ex_1/attempts/1/outputs/none.csv") is None
    assert store.stat("executions/ex_1/attempts/1/outputs/none.csv") is None
