"""Live streams (WebSocket), in-process on SQLite and PostgreSQL: every message a change
causes arrives because the change was committed; the app's safety-net re-read is an hour
here, so a stream that only polled would leave these tests waiting and failing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rgrid_api.core.events import BUS
from rgrid_api.main import create_app
from tests.api.conftest import TEST_WORKER, submit
from tests.helpers import wait_for

WAIT_SECONDS = 20
_waiter = ThreadPoolExecutor(4)


@pytest.fixture(scope="module")
def live(api_settings):
    """An app whose streams re-read only when woken (within the test's time)."""
    settings = api_settings.model_copy(update={"stream_recheck_seconds": 3600})
    with TestClient(create_app(settings)) as client:
        yield client


def receive(ws) -> dict:
    """The next message, or a failure after WAIT_SECONDS (never a hang)."""
    try:
        return _waiter.submit(ws.receive_json).result(timeout=WAIT_SECONDS)
    except FutureTimeout:
        pytest.fail(f"no message within {WAIT_SECONDS} s: the change was not pushed")


def receive_until(ws, kind: str) -> list[dict]:
    messages = []
    while True:
        messages.append(receive(ws))
        if messages[-1]["type"] == kind:
            return messages


def _stream_url(execution_id: str, from_seq: int | None = None) -> str:
    query = "" if from_seq is None else f"?from_seq={from_seq}"
    return f"/api/v1/executions/{execution_id}/stream{query}"


def _claim(live, headers, execution_id):
    response = live.post(f"/api/v1/worker/executions/{execution_id}/claim",
                         json={"flow_run_id": "fr", "worker": TEST_WORKER}, headers=headers)
    assert response.status_code == 200, response.text


def _log(live, headers, execution_id, *chunks: tuple[int, str, str]):
    response = live.post(f"/api/v1/worker/executions/{execution_id}/logs", headers=headers,
                         json={"chunks": [{"seq": seq, "stream": stream, "data": data}
                                          for seq, stream, data in chunks]})
    assert response.status_code == 204, response.text


def _finish(live, headers, execution_id, status="succeeded", exit_code=0):
    response = live.post(f"/api/v1/worker/executions/{execution_id}/finish", headers=headers,
                         json={"status": status, "exit_code": exit_code})
    assert response.status_code == 204, response.text


def test_an_execution_stream_pushes_each_status_each_chunk_then_the_end(
        live, alice, worker_headers):
    execution = submit(alice)
    with live.websocket_connect(_stream_url(execution["id"]), headers=alice.headers) as ws:
        assert receive(ws) == {"type": "status", "status": "queued", "attempt": 1,
                               "worker": None}
        _claim(live, worker_headers, execution["id"])
        assert receive(ws)["status"] == "running"
        _log(live, worker_headers, execution["id"], (0, "stdout", "one\n"))
        assert receive(ws) == {"type": "log", "seq": 0, "stream": "stdout", "data": "one\n"}
        _log(live, worker_headers, execution["id"], (1, "stderr", "two\n"),
             (2, "stdout", "three\n"))
        assert [m["data"] for m in (receive(ws), receive(ws))] == ["two\n", "three\n"]
        _finish(live, worker_headers, execution["id"], status="failed", exit_code=3)
        rest = receive_until(ws, "end")
        assert rest[-1] == {"type": "end", "status": "failed", "exit_code": 3, "error": None,
                            "next_seq": 3}
        assert [m["type"] for m in rest[:-1]] == ["status"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1000


def test_a_reconnected_stream_resumes_after_its_cursor_exactly_once(
        live, alice, worker_headers):
    execution = submit(alice)
    _claim(live, worker_headers, execution["id"])
    _log(live, worker_headers, execution["id"], *[(i, "stdout", f"line {i}\n")
                                                   for i in range(5)])
    with live.websocket_connect(_stream_url(execution["id"], from_seq=3),
                                headers=alice.headers) as ws:
        assert receive(ws)["type"] == "status"
        assert [receive(ws)["seq"] for _ in range(2)] == [3, 4]
        _log(live, worker_headers, execution["id"], (4, "stdout", "resent\n"),
             (5, "stdout", "line 5\n"))
        assert receive(ws) == {"type": "log", "seq": 5, "stream": "stdout", "data": "line 5\n"}
        _finish(live, worker_headers, execution["id"])
        assert receive_until(ws, "end")[-1]["next_seq"] == 6


def test_a_finished_execution_streams_its_whole_log_and_ends(live, alice, worker_headers):
    execution = submit(alice)
    _claim(live, worker_headers, execution["id"])
    _log(live, worker_headers, execution["id"], (0, "stdout", "a\n"), (1, "stdout", "b\n"))
    _finish(live, worker_headers, execution["id"])
    with live.websocket_connect(_stream_url(execution["id"]), headers=alice.headers) as ws:
        messages = receive_until(ws, "end")
    assert [m["type"] for m in messages] == ["status", "log", "log", "end"]


def test_the_key_may_come_as_the_first_message(live, alice):
    execution = submit(alice)
    with live.websocket_connect(_stream_url(execution["id"])) as ws:
        ws.send_json({"type": "auth", "api_key": alice.key})
        assert receive(ws)["status"] == "queued"


@pytest.mark.parametrize("how", ["another account's id", "no key", "a wrong key",
                                 "a bad cursor"])
def test_a_refused_stream_says_why_and_closes_with_its_code(live, alice, bob, how):
    execution = submit(alice)
    url, headers, first = _stream_url(execution["id"]), alice.headers, None
    expected = {"another account's id": (404, 4404), "no key": (401, 4401),
                "a wrong key": (401, 4401), "a bad cursor": (400, 4400)}[how]
    if how == "another account's id":
        headers = bob.headers
    elif how == "no key":
        headers, first = {}, {"type": "hello"}
    elif how == "a wrong key":
        headers = {"Authorization": "Bearer rg_not-a-key"}
    else:
        url = _stream_url(execution["id"], from_seq=-1)
    with live.websocket_connect(url, headers=headers) as ws:
        if first:
            ws.send_json(first)
        error = receive(ws)
        assert (error["type"], error["status"]) == ("error", expected[0])
        assert error["message"] and error["hint"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == expected[1]


def test_a_batch_stream_sends_a_snapshot_then_each_item_change_then_the_end(
        live, alice, worker_headers):
    response = alice.post("/api/v1/batches", {
        "script_name": "b.py", "script_content": "print(1)\n", "parallel": 2,
        "items": [{"args": [f"f{i}.csv"]} for i in range(2)]})
    assert response.status_code == 201, response.text
    batch = response.json()
    base = f"/api/v1/worker/batches/{batch['id']}"
    with live.websocket_connect(f"/api/v1/batches/{batch['id']}/stream",
                                headers=alice.headers) as ws:
        snapshot = receive(ws)
        assert (snapshot["type"], snapshot["total"], snapshot["counts"]["queued"]) == (
            "progress", 2, 2)
        claimed = live.post(f"{base}/claim-next", headers=worker_headers,
                            json={"flow_run_id": "shard-0", "worker": TEST_WORKER}).json()
        item, progress = receive(ws), receive(ws)
        assert (item["type"], item["id"], item["status"], item["batch_index"]) == (
            "item", claimed["execution_id"], "running", 0)
        assert (progress["counts"]["running"], progress["counts"]["queued"]) == (1, 1)
        _finish(live, worker_headers, claimed["execution_id"], status="failed", exit_code=1)
        failed = receive(ws)
        assert (failed["id"], failed["status"]) == (claimed["execution_id"], "failed")
        assert receive(ws)["counts"]["failed"] == 1
        live.post(f"/api/v1/batches/{batch['id']}/cancel", headers=alice.headers)
        messages = receive_until(ws, "batch_end")
    cancelled = [m for m in messages if m["type"] == "item"]
    assert [(m["batch_index"], m["status"]) for m in cancelled] == [(1, "cancelled")]
    assert messages[-1] == {"type": "batch_end", "status": "cancelled",
                            "counts": {**messages[-1]["counts"], "failed": 1, "cancelled": 1}}


def test_a_batch_stream_woken_only_by_the_batchs_end_still_tells_each_items_end_first(
        live, alice, api_settings):
    """The wake-ups of one commit can reach a stream apart (on PostgreSQL each is a
    notification of its own): told only "the batch changed" after a cancel, the stream
    must not close on the batch's end without the items that ended with it."""
    from datetime import datetime, timezone

    from rgrid_api.core.db import session_scope
    from rgrid_api.models import Account
    from rgrid_api.services import streams

    response = alice.post("/api/v1/batches", {
        "script_name": "b.py", "script_content": "print(1)\n", "parallel": 2,
        "items": [{"args": [f"f{i}.csv"]} for i in range(3)]})
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    cursor = streams.BatchCursor(opened_at=datetime.now(timezone.utc))
    for session in session_scope(api_settings.database_url):
        account = session.get(Account, alice.account["id"])
        streams.batch_snapshot(session, account=account, batch_id=batch_id, cursor=cursor)
    assert live.post(f"/api/v1/batches/{batch_id}/cancel",
                     headers=alice.headers).status_code == 200
    for session in session_scope(api_settings.database_url):
        account = session.get(Account, alice.account["id"])
        messages = streams.batch_step(session, account=account, batch_id=batch_id,
                                      changed=set(), cursor=cursor)
    kinds = [message.type for message in messages]
    assert kinds == ["item", "item", "item", "progress", "batch_end"], kinds
    assert {message.status for message in messages[:3]} == {"cancelled"}


def test_streams_leave_no_subscription_behind(live, alice):
    before = BUS.subscriptions
    execution = submit(alice)
    with live.websocket_connect(_stream_url(execution["id"]), headers=alice.headers) as ws:
        receive(ws)
        assert BUS.subscriptions == before + 1
    wait_for(lambda: BUS.subscriptions == before, timeout=WAIT_SECONDS,
             what="the closed stream's subscription to go")


def test_followers_woken_by_the_same_change_each_get_what_they_lack(
        live, alice, worker_headers):
    """They share the read of a change where their cursors agree, never where not."""
    execution = submit(alice)
    _claim(live, worker_headers, execution["id"])
    _log(live, worker_headers, execution["id"], (0, "stdout", "zero\n"))
    with live.websocket_connect(_stream_url(execution["id"]), headers=alice.headers) as a, \
            live.websocket_connect(_stream_url(execution["id"]), headers=alice.headers) as b, \
            live.websocket_connect(_stream_url(execution["id"], from_seq=1),
                                   headers=alice.headers) as late:
        for ws in (a, b):
            assert [receive(ws)["type"], receive(ws)["data"]] == ["status", "zero\n"]
        assert receive(late)["type"] == "status"
        for n in (1, 2):
            _log(live, worker_headers, execution["id"], (n, "stdout", f"line {n}\n"))
            for ws in (a, b, late):
                assert receive(ws) == {"type": "log", "seq": n, "stream": "stdout",
                                       "data": f"line {n}\n"}
        _finish(live, worker_headers, execution["id"])
        for ws in (a, b, late):
            assert receive_until(ws, "end")[-1]["next_seq"] == 3


def test_a_stream_left_behind_by_a_closed_loop_breaks_no_commit():
    """Waking streams runs after a commit; nothing there may fail the request."""
    import asyncio

    async def subscribe():
        return BUS.subscribe("execution:ex_left_behind")

    loop = asyncio.new_event_loop()
    left = loop.run_until_complete(subscribe())
    loop.close()
    try:
        BUS.publish([("ex_left_behind", None)])  # raised RuntimeError before
    finally:
        left.close()
    assert BUS.generation("execution:ex_left_behind") is None
