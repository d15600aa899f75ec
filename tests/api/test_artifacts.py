"""Artifacts through the API: signed URLs that work for one object and expire, retention
with an injected clock, account isolation, size bounds, refused output paths."""

from __future__ import annotations

import gzip
import hashlib
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from minio import Minio

from rgrid_api.main import create_app
from rgrid_api.storage.local import LocalObjectStore
from rgrid_api.storage.s3 import S3ObjectStore
from rgrid_common.errors import ServiceUnavailable
from tests.api.conftest import HELLO, Caller
from tests.helpers import free_port


def _offer(caller: Caller, data: bytes, force: bool = False) -> dict:
    body = {"files": [{"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}],
            "force": force}
    response = caller.post("/api/v1/uploads", body)
    assert response.status_code == 200, response.text
    return response.json()["files"][0]


def _upload(caller: Caller, data: bytes) -> str:
    offer = _offer(caller, data)
    if not offer["present"]:
        response = caller.client.put(offer["url"], content=data)
        assert response.status_code == 200, response.text
    return offer["sha256"]


def _run_with_input(caller: Caller, data: bytes, name: str = "in.csv") -> dict:
    sha256 = _upload(caller, data)
    response = caller.post("/api/v1/executions", {
        **HELLO, "args": [name], "inputs": [{"name": name, "sha256": sha256, "size": len(data),
                                             "arg_indexes": [0]}]})
    assert response.status_code == 201, response.text
    return response.json()


def _input_artifact(caller: Caller, execution_id: str) -> dict:
    response = caller.get(f"/api/v1/executions/{execution_id}/artifacts")
    assert response.status_code == 200, response.text
    [artifact] = response.json()["artifacts"]
    return artifact


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update({k: str(v) for k, v in changes.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_an_uploaded_input_is_recorded_and_downloadable(as_alice):
    data = b"a,b\n1,2\n" + os.urandom(16)
    execution = _run_with_input(as_alice, data)

    artifact = _input_artifact(as_alice, execution["id"])

    assert (artifact["kind"], artifact["path"], artifact["size"]) == ("input", "in.csv", len(data))
    assert as_alice.client.get(artifact["url"]).content == data
    assert _offer(as_alice, data)["present"] is True, "a held blob is not uploaded again"


def test_an_input_never_uploaded_is_refused(as_alice):
    data = os.urandom(32)
    response = as_alice.post("/api/v1/executions", {
        **HELLO, "args": ["x"], "inputs": [{"name": "x", "sha256": hashlib.sha256(data).hexdigest(),
                                           "size": 32, "arg_indexes": [0]}]})
    assert response.status_code == 400
    assert "was not uploaded completely" in response.json()["message"]


def test_an_upload_url_works_for_exactly_one_object_size_and_method(as_alice):
    data = os.urandom(100)
    url = _offer(as_alice, data)["url"]
    put = as_alice.client.put
    other_key = url.replace(hashlib.sha256(data).hexdigest(), "0" * 64)

    assert put(other_key, content=data).status_code == 403
    assert put(_with_query(url, sig="0" * 64), content=data).status_code == 403
    assert put(_with_query(url, size=200), content=os.urandom(200)).status_code == 403
    assert put(_with_query(url, expires=4102444800), content=data).status_code == 403
    assert as_alice.client.get(url).status_code == 403, "an upload URL is not a download URL"
    assert put(url, content=data[:50]).status_code == 400
    assert put(url, content=data).status_code == 200


def test_signed_urls_expire(as_alice, clock):
    data = os.urandom(64)
    upload_url = _offer(as_alice, data)["url"]
    clock.advance(minutes=16)
    response = as_alice.client.put(upload_url, content=data)
    assert response.status_code == 403
    assert "expired" in response.json()["message"]

    execution = _run_with_input(as_alice, data)
    download_url = _input_artifact(as_alice, execution["id"])["url"]
    assert as_alice.client.get(download_url).status_code == 200
    clock.advance(minutes=16)
    assert as_alice.client.get(download_url).status_code == 403


def test_an_artifact_expires_after_the_retention_period(as_alice, clock, api_settings):
    execution = _run_with_input(as_alice, os.urandom(10))
    artifact = _input_artifact(as_alice, execution["id"])
    expires = datetime.fromisoformat(artifact["expires_at"])
    retention = timedelta(days=api_settings.retention_days)
    assert abs(expires - (clock() + retention)) < timedelta(minutes=1)
    assert as_alice.get(f"/api/v1/artifacts/{artifact['id']}").status_code == 200

    clock.advance(days=api_settings.retention_days, minutes=1)

    response = as_alice.get(f"/api/v1/artifacts/{artifact['id']}")
    assert response.status_code == 404
    assert response.json()["message"] == (f"Artifact 'in.csv' expired on {expires:%Y-%m-%d}.")
    listed = _input_artifact(as_alice, execution["id"])
    assert listed["expired"] is True and listed["url"] is None


def test_one_account_never_reaches_another_accounts_artifacts(as_alice, as_bob):
    data = os.urandom(48)
    execution = _run_with_input(as_alice, data)
    artifact = _input_artifact(as_alice, execution["id"])

    assert as_bob.get(f"/api/v1/artifacts/{artifact['id']}").status_code == 404
    assert as_bob.get(f"/api/v1/executions/{execution['id']}/artifacts").status_code == 404
    assert _offer(as_bob, data)["present"] is False, "bob must not learn what alice holds"
    response = as_bob.post("/api/v1/executions", {
        **HELLO, "args": ["in.csv"], "inputs": [{"name": "in.csv", "sha256": artifact["sha256"],
                                                 "size": len(data), "arg_indexes": [0]}]})
    assert response.status_code == 400, "alice's blob is not bob's input"


def test_file_and_execution_sizes_are_bounded(api_settings, clock, alice):
    small = api_settings.model_copy(update={"max_file_bytes": 1000,
                                            "max_execution_bytes": 1500})
    with TestClient(create_app(small, clock=clock)) as client:
        caller = Caller(client, alice.key, alice.account)
        response = caller.post("/api/v1/uploads", {"files": [{"sha256": "a" * 64,
                                                              "size": 1001}]})
        assert response.status_code == 400
        assert "exceeds the maximum" in response.json()["message"]

        inputs = [{"name": f"f{i}", "sha256": _upload(caller, os.urandom(900)), "size": 900,
                   "arg_indexes": [i]} for i in range(2)]
        response = caller.post("/api/v1/executions", {**HELLO, "args": ["f0", "f1"],
                                                      "inputs": inputs})
        assert response.status_code == 400
        assert "Inputs exceed" in response.json()["message"]


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", "a\\b"])
def test_output_paths_outside_work_are_refused(api, alice, worker_headers, path):
    execution = alice.post("/api/v1/executions", HELLO).json()
    claimed = api.post(f"/api/v1/worker/executions/{execution['id']}/claim",
                       json={"flow_run_id": "fr-1"}, headers=worker_headers)
    assert claimed.status_code == 200, claimed.text

    response = api.post(f"/api/v1/worker/executions/{execution['id']}/output-uploads",
                        json={"files": [{"path": path, "size": 1, "sha256": "b" * 64}]},
                        headers=worker_headers)

    assert response.status_code == 400
    assert "Refused output path" in response.json()["message"]


def test_the_local_store_deletes_only_what_is_past_retention(tmp_path):
    now = datetime.now(timezone.utc)
    store = LocalObjectStore(tmp_path, signing_key=b"k", public_url="http://x", clock=lambda: now)
    old, fresh = store.path_of("blobs/a/old"), store.path_of("blobs/a/fresh")
    for path in (old, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    month_ago = (now - timedelta(days=31)).timestamp()
    os.utime(old, (month_ago, month_ago))

    assert store.delete_older_than(now - timedelta(days=30)) == 1
    assert not old.exists() and fresh.exists()


def test_the_s3_bucket_gets_a_retention_lifecycle_rule(s3_endpoint):
    client = Minio(s3_endpoint.removeprefix("http://"), access_key="k", secret_key="s",
                   secure=False)
    store = S3ObjectStore(client, "rgrid-lifecycle-test")

    store.prepare(retention_days=30)

    [rule] = client.get_bucket_lifecycle("rgrid-lifecycle-test").rules
    assert rule.expiration.days == 31 and rule.status == "Enabled"


def test_a_gzip_blob_is_served_with_content_encoding_and_the_encoding_is_signed(as_alice):
    text = b"word,count\n" + b"the,11\n" * 500
    packed = gzip.compress(text)
    blob = {"sha256": hashlib.sha256(text).hexdigest(), "size": len(text), "encoding": "gzip",
            "stored_size": len(packed)}
    offer = as_alice.post("/api/v1/uploads", {"files": [blob]}).json()["files"][0]
    assert as_alice.client.put(offer["url"], content=packed).status_code == 200
    execution = as_alice.post("/api/v1/executions", {
        **HELLO, "args": ["t.csv"], "inputs": [{**blob, "name": "t.csv", "arg_indexes": [0]}]})
    assert execution.status_code == 201, execution.text
    url = _input_artifact(as_alice, execution.json()["id"])["url"]

    response = as_alice.client.get(url)

    assert response.headers["content-encoding"] == "gzip"
    assert response.content == text, "HTTP clients undo the gzip"
    assert as_alice.client.get(url.replace("&enc=gzip", "")).status_code == 403


def test_a_storage_server_out_of_reach_is_a_503_to_send_again_not_a_500():
    """A worker's finish needs the store (its outputs are checked there): with S3 away it
    must meet an error it sends again, or the attempt is given back and run twice."""
    store = S3ObjectStore(Minio(f"127.0.0.1:{free_port()}", access_key="a", secret_key="b",
                                secure=False, region="us-east-1"), "rgrid-test")

    with pytest.raises(ServiceUnavailable, match="cannot reach its storage server"):
        store.stat("executions/ex_1/attempts/1/outputs/result.txt")
