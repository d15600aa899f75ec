"""A worker listening on the API's new-work stream is told when a flow run is made for its
pool (``rgrid_api.services.new_work``): on SQLite through the API process's bus, on
PostgreSQL through NOTIFY and the process's listener. Only its pool's work is told, and
only to a worker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from starlette.websockets import WebSocketDisconnect

from rgrid_api.core.events import BUS, work_topic
from rgrid_api.services import new_work
from tests.api.conftest import IDLE_POOL, submit
from tests.helpers import wait_for

WAIT_SECONDS = 60  # a bound on a hang, never a measure of speed
_waiter = ThreadPoolExecutor(2)


def _url(pool: str) -> str:
    return f"/api/v1/worker/new-work?pool={pool}"


def _listening(ws, pool: str, before: int) -> None:
    """Once the API has subscribed the stream to its pool (an announcement made before
    would not be heard, by design)."""
    wait_for(lambda: BUS.waiting_on(work_topic(pool)) > before, WAIT_SECONDS,
             f"the stream listening on {pool}", every=0.01)


def _receive(ws) -> dict:
    try:
        return _waiter.submit(ws.receive_json).result(timeout=WAIT_SECONDS)
    except FutureTimeout:
        pytest.fail(f"nothing announced within {WAIT_SECONDS} s")


def test_a_listening_worker_hears_of_each_flow_run_made_for_its_pool(api, alice,
                                                                      worker_headers):
    before = BUS.waiting_on(work_topic(IDLE_POOL))
    with api.websocket_connect(_url(IDLE_POOL), headers=worker_headers) as ws:
        _listening(ws, IDLE_POOL, before)
        submit(alice)  # the API's starter makes its flow run, on the idle pool
        assert _receive(ws) == {"arrived": True}
        submit(alice)
        assert _receive(ws) == {"arrived": True}  # the stream stays open for the next


def test_the_shards_a_coordinator_made_are_told_to_their_pool(api, worker_headers):
    before = BUS.waiting_on(work_topic(IDLE_POOL))
    with api.websocket_connect(_url(IDLE_POOL), headers=worker_headers) as ws:
        _listening(ws, IDLE_POOL, before)
        told = api.post("/api/v1/worker/batches/bat_any/shards-made",
                        json={"pool": IDLE_POOL}, headers=worker_headers)
        assert told.status_code == 204, told.text
        assert _receive(ws) == {"arrived": True}


def test_only_a_worker_may_announce_shards(api, alice):
    assert api.post("/api/v1/worker/batches/bat_any/shards-made", json={"pool": IDLE_POOL},
                    headers=alice.headers).status_code == 401
    assert api.post("/api/v1/worker/batches/bat_any/shards-made",
                    json={"pool": IDLE_POOL}).status_code == 401


def test_work_for_another_pool_is_not_told(api, api_settings, worker_headers):
    other = "some-other-pool"
    with (api.websocket_connect(_url(other), headers=worker_headers) as other_ws,
          api.websocket_connect(_url(IDLE_POOL), headers=worker_headers) as idle_ws):
        _listening(other_ws, other, 0)
        _listening(idle_ws, IDLE_POOL, 0)
        new_work.announce(api_settings.database_url, IDLE_POOL)
        assert _receive(idle_ws) == {"arrived": True}
        told = _waiter.submit(other_ws.receive_json)
        with pytest.raises(FutureTimeout):  # the idle pool's announcement, heard above
            told.result(timeout=1)          # by now, was not sent to this stream
        new_work.announce(api_settings.database_url, other)
        assert told.result(timeout=WAIT_SECONDS) == {"arrived": True}


@pytest.mark.parametrize("how", ["no token", "a wrong token", "an account's key", "no pool"])
def test_a_refused_listener_is_told_why_and_closed(api, alice, worker_headers, how):
    url, headers = _url(IDLE_POOL), worker_headers
    expected = {"no token": (401, 4401), "a wrong token": (401, 4401),
                "an account's key": (401, 4401), "no pool": (400, 4400)}[how]
    if how == "no token":
        headers = {}
    elif how == "a wrong token":
        headers = {"Authorization": "Bearer not-a-worker-token"}
    elif how == "an account's key":
        headers = alice.headers
    else:
        url = "/api/v1/worker/new-work"
    with api.websocket_connect(url, headers=headers) as ws:
        error = _receive(ws)
        assert (error["type"], error["status"]) == ("error", expected[0])
        assert error["message"] and error["hint"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == expected[1]
