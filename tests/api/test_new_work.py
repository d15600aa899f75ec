"""A worker waiting at the API for new work is told when a flow run is made for its pool
(``rgrid_api.services.new_work``): on SQLite through the API process's bus, on PostgreSQL
through NOTIFY and the process's listener. Only its pool's work wakes it."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from rgrid_api.core.events import BUS, work_topic
from rgrid_api.services import new_work
from tests.api.conftest import IDLE_POOL, submit
from tests.helpers import wait_for

NEW_WORK = "/api/v1/worker/new-work"


def _waiting(api, headers: dict, pool: str, wait: float, threads: ThreadPoolExecutor
             ) -> Future:
    """A worker's request, open once the API has subscribed it to its pool."""
    before = BUS.waiting_on(work_topic(pool))
    answer = threads.submit(api.get, NEW_WORK, params={"pool": pool, "wait": wait},
                            headers=headers)
    wait_for(lambda: BUS.waiting_on(work_topic(pool)) > before or answer.done(), 30,
             f"the request waiting on {pool}", every=0.01)
    return answer


def test_a_waiting_worker_hears_of_the_flow_run_made_for_its_pool(api, alice,
                                                                   worker_headers):
    with ThreadPoolExecutor(2) as threads:
        answer = _waiting(api, worker_headers, IDLE_POOL, 60, threads)
        submit(alice)  # the API's starter makes its flow run, on the idle pool
        response = answer.result(timeout=90)
    assert response.status_code == 200, response.text
    assert response.json() == {"arrived": True}


def test_work_for_another_pool_does_not_wake_a_worker(api, api_settings, worker_headers):
    with ThreadPoolExecutor(2) as threads:
        other = _waiting(api, worker_headers, "some-other-pool", 3, threads)
        told = _waiting(api, worker_headers, IDLE_POOL, 60, threads)
        new_work.announce(api_settings.database_url, IDLE_POOL)
        assert told.result(timeout=90).json() == {"arrived": True}
        assert other.result(timeout=90).json() == {"arrived": False}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-worker-token"}])
def test_only_a_worker_may_wait_for_work(api, headers):
    response = api.get(NEW_WORK, params={"pool": IDLE_POOL, "wait": 1}, headers=headers)
    assert response.status_code == 401


def test_an_account_key_is_not_a_worker_token(api, alice):
    response = api.get(NEW_WORK, params={"pool": IDLE_POOL, "wait": 1},
                       headers={"Authorization": f"Bearer {alice.key}"})
    assert response.status_code == 401
