"""What an attacker or a broken client sends, on SQLite and PostgreSQL alike: malformed
JSON, bytes that are not UTF-8, NUL bytes (PostgreSQL text cannot hold one), wrong types,
absurd numbers and a body past the size limit. Each is refused with a JSON problem that
names the cause, never a 5xx, and nothing is half-stored."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import HELLO, TEST_WORKER, submit


def _post_raw(caller, path: str, content: bytes, content_type="application/json"):
    return caller.client.post(path, content=content,
                              headers={**caller.headers, "Content-Type": content_type})


@pytest.mark.parametrize("content", [
    b"{", b'{"script_name": "a.py",}', b"\xff\xfe\x00garbage", b"[]", b"null",
    json.dumps({**HELLO, "script_content": 5}).encode(),
    json.dumps({**HELLO, "args": "not-a-list"}).encode(),
    json.dumps({**HELLO, "memory_mb": 10**30}).encode(),
    json.dumps({**HELLO, "timeout_seconds": -1}).encode(),
    b'{"script_name": "a.py", "script_content": "x", "memory_mb": NaN}',
    b'{"script_name": "a.py", "script_content": "x", "cpus": Infinity}',
    b"[" * 10000 + b"]" * 10000,
], ids=["truncated", "trailing-comma", "not-utf8", "array", "null", "wrong-type",
        "args-not-list", "absurd-memory", "negative-timeout", "nan", "infinity",
        "deep-nesting"])
def test_malformed_submissions_are_refused_with_a_problem(alice, content):
    before = len(alice.get("/api/v1/executions").json()["executions"])
    response = _post_raw(alice, "/api/v1/executions", content)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.json()["message"]
    assert len(alice.get("/api/v1/executions").json()["executions"]) == before, \
        "nothing half-stored"


@pytest.mark.parametrize("field", ["script_name", "script_content", "args", "env", "input"])
def test_a_nul_byte_anywhere_in_a_submission_is_refused_by_name(alice, field):
    body = {**HELLO, **{
        "script_name": {"script_name": "a\x00.py"},
        "script_content": {"script_content": "print(1)\x00\n"},
        "args": {"args": ["a\x00b"]},
        "env": {"env": {"MODE": "a\x00"}},
        "input": {"args": ["x\x00.csv"], "inputs": [{"name": "x\x00.csv", "sha256": "0" * 64,
                                                     "size": 1, "arg_indexes": [0]}]},
    }[field]}
    response = alice.post("/api/v1/executions", body)
    assert response.status_code in (400, 422), response.text[:300]
    message = response.json()["message"]
    assert "NUL" in message or "\\x00" in message, message


def test_a_nul_byte_in_a_scripts_output_is_kept_visibly(api, alice, worker_headers):
    """Output is the script's, not the user's typing: a NUL in it is stored as U+FFFD
    (PostgreSQL text cannot hold NUL), never refused and never lost."""
    execution = submit(alice)
    api.post(f"/api/v1/worker/executions/{execution['id']}/claim",
             json={"flow_run_id": "fr", "worker": TEST_WORKER}, headers=worker_headers)
    response = api.post(f"/api/v1/worker/executions/{execution['id']}/logs",
                        json={"chunks": [{"seq": 0, "stream": "stdout", "data": "a\x00b\n"}]},
                        headers=worker_headers)
    assert response.status_code == 204, response.text
    [chunk] = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert chunk["data"] == "a\ufffdb\n"


def test_a_body_past_the_size_limit_is_refused_before_it_is_read(alice, api_settings):
    big = b'{"script_name": "a.py", "script_content": "' + b"x" * (
        api_settings.max_request_bytes + 1) + b'"}'
    response = _post_raw(alice, "/api/v1/executions", big)
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_a_body_without_a_declared_length_is_refused(alice):
    """A chunked body could not be bounded without reading it."""
    def chunks():
        yield b'{"script_name": "a.py", '
        yield b'"script_content": "print(1)"}'

    response = alice.client.post("/api/v1/executions", content=chunks(),
                                 headers={**alice.headers, "Content-Type": "application/json"})
    assert response.status_code == 411
    assert "Content-Length" in response.json()["message"]
