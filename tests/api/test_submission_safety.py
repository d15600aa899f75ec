"""What a submission can carry and what it cannot: refused at the door with 422 when it
would fail on every attempt (or could not even be stored), and made once however often a
client sends it with its idempotency key."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import HELLO, submit

BAD_BODIES = {
    "an env name with '='": ({"env": {"A=B": "x"}}, "Invalid environment variable name"),
    "an env name with NUL": ({"env": {"A\x00": "x"}}, "contains a NUL byte"),
    "an env value with NUL": ({"env": {"A": "x\x00y"}}, "contains a NUL byte"),
    "PATH overridden": ({"env": {"PATH": "/nowhere"}}, "PATH is set by the runtime"),
    "HOME overridden": ({"env": {"HOME": "/root"}}, "HOME is set by the runtime"),
}
# JSON a client can send but no Python json.dumps(ensure_ascii=False) would: raw bodies.
RAW_BODIES = {
    "a lone surrogate in the script": ('"script_content": "print(1) # \\ud800"',
                                       "script_content"),
    "a lone surrogate in an arg": ('"args": ["\\udcff"]', "args.0"),
    "a lone surrogate in the script name": ('"script_name": "\\ud800.py"', "script_name"),
    "a lone surrogate in an env value": ('"env": {"A": "\\ud800"}', "env.A"),
    "cpus NaN": ('"cpus": NaN', "cpus"),
    "cpus Infinity": ('"cpus": Infinity', "cpus"),
}


def _raw_post(caller, path: str, fields: str):
    body = '{"script_name": "hello.py", "script_content": "print(1)", ' + fields + "}"
    return caller.client.post(path, content=body.encode(), headers={
        **caller.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_request_that_would_fail_every_attempt_is_refused_with_422(alice, case):
    overrides, message = BAD_BODIES[case]
    response = alice.post("/api/v1/executions", {**HELLO, **overrides})
    assert response.status_code == 422, response.text
    assert message in response.json()["message"]
    assert response.json()["hint"]


@pytest.mark.parametrize("case", RAW_BODIES)
def test_text_that_is_not_unicode_and_numbers_that_are_not_numbers_are_refused(alice, case):
    fields, where = RAW_BODIES[case]
    before = alice.get("/api/v1/executions", params={"limit": 1000}).json()["executions"]

    response = _raw_post(alice, "/api/v1/executions", fields)

    assert response.status_code == 422, response.text
    problem = json.loads(response.content.decode("utf-8"))  # valid UTF-8 JSON
    assert problem["code"] == "invalid_input" and where in problem["message"]
    listing = alice.get("/api/v1/executions", params={"limit": 1000})
    assert listing.status_code == 200
    assert len(listing.json()["executions"]) == len(before), "nothing was stored"


BATCH_BODIES = {
    "a lone surrogate in an item's arg": '{"script_name": "hello.py", "script_content": '
                                         '"print(1)", "items": [{"args": ["\\udcff"]}]}',
    "cpus NaN": '{"script_name": "hello.py", "script_content": "print(1)", "cpus": NaN, '
                '"items": [{"args": []}]}',
}


@pytest.mark.parametrize("case", BATCH_BODIES)
def test_a_batch_with_the_same_faults_is_refused_too(alice, case):
    response = alice.client.post("/api/v1/batches", content=BATCH_BODIES[case].encode(),
                                 headers={**alice.headers, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert alice.get("/api/v1/executions").json()["executions"] == []


@pytest.mark.parametrize("after", ["99999999999999999999", "2147483648", "-2"])
def test_an_absurd_log_cursor_is_refused(alice, after):
    execution = submit(alice)
    response = alice.get(f"/api/v1/executions/{execution['id']}/logs", params={"after": after})
    assert response.status_code == 422, response.text
    assert "after" in response.json()["message"]


def test_the_same_idempotency_key_makes_one_execution(alice, bob):
    key = {"Idempotency-Key": "client-key-0001"}
    first = alice.client.post("/api/v1/executions", json=HELLO, headers={**alice.headers, **key})
    again = alice.client.post("/api/v1/executions", json=HELLO, headers={**alice.headers, **key})
    other = bob.client.post("/api/v1/executions", json=HELLO, headers={**bob.headers, **key})

    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["flow_run_id"] == first.json()["flow_run_id"]
    assert other.json()["id"] != first.json()["id"], "keys are per account"
    listed = alice.get("/api/v1/executions", params={"limit": 1000}).json()["executions"]
    assert [e["id"] for e in listed].count(first.json()["id"]) == 1
    assert len(listed) == 1


def test_the_same_idempotency_key_makes_one_batch(alice):
    request = {**{k: v for k, v in HELLO.items() if k != "args"},
               "items": [{"args": ["1"]}, {"args": ["2"]}], "parallel": 1}
    key = {"Idempotency-Key": "batch-key-0001"}
    first = alice.client.post("/api/v1/batches", json=request, headers={**alice.headers, **key})
    again = alice.client.post("/api/v1/batches", json=request, headers={**alice.headers, **key})

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    listed = alice.get("/api/v1/executions", params={"limit": 1000}).json()["executions"]
    assert len(listed) == 2, "two items, once"


def test_a_malformed_idempotency_key_is_refused(alice):
    response = alice.client.post("/api/v1/executions", json=HELLO,
                                 headers={**alice.headers, "Idempotency-Key": "no spaces"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]
