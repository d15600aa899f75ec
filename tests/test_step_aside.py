"""When a shard asks Prefect whether single runs wait for its slot. The query itself runs
against a real Prefect in tests/e2e/test_pool_never_wedges.py (a single run submitted
while batches run starts before they drain); here, what ``SingleRunsWaiting`` does with
the answers, through a client that records the asks."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from flows.batch import SharedAskers, SingleRunsWaiting
from tests.helpers import wait_for


class RecordingClient:
    """Answers ``read_flow_runs`` from ``answers`` (a list of waiting runs per ask; an
    exception instance is raised), recording on which thread each ask came."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.threads: list[str] = []

    def read_flow_runs(self, **_filters):
        self.threads.append(threading.current_thread().name)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_every_answer_is_asked_for_in_the_background():
    client = RecordingClient([], ["a single run"])
    with SingleRunsWaiting(client, "pool", ask_every=0.0) as waiting:
        wait_for(lambda: waiting() is True, 10, "the second answer")
    assert set(client.threads) == {"step-aside"}


def test_an_answer_is_asked_for_at_most_once_in_the_interval():
    client = RecordingClient(["a single run"])
    with SingleRunsWaiting(client, "pool", ask_every=3600.0) as waiting:
        wait_for(lambda: waiting() is True, 10, "the first answer")
        assert all(waiting() for _ in range(100))
    assert client.threads == ["step-aside"], "one ask within the interval"


def test_a_failed_ask_leaves_the_last_answer():
    client = RecordingClient(["a single run"], ConnectionError("Prefect restarting"))
    with SingleRunsWaiting(client, "pool", ask_every=0.0) as waiting:
        wait_for(lambda: waiting() is True, 10, "the first answer")
        wait_for(lambda: waiting() and len(client.threads) >= 2, 10, "the failed ask")
        assert waiting() is True


class StuckClient:
    """Prefect restarting: an ask hangs until ``back`` is set."""

    def __init__(self) -> None:
        self.back = threading.Event()
        self.asked = threading.Event()

    def read_flow_runs(self, **_filters):
        self.asked.set()
        self.back.wait()
        return ["a single run"]


def test_a_shard_never_waits_on_prefect_between_items():
    """A shard that waited here held no item while Prefect restarted, and its coordinator
    took it for lost (the chaos suite, Prefect server restarted)."""
    client = StuckClient()
    with SingleRunsWaiting(client, "pool", ask_every=0.0) as waiting:
        assert client.asked.wait(10)
        assert [waiting() for _ in range(3)] == [False] * 3  # answered while the ask hangs
        client.back.set()
        wait_for(lambda: waiting() is True, 10, "the answer once Prefect is back")


def test_a_shard_without_a_pool_never_asks():
    client = RecordingClient(["a single run"])
    with SingleRunsWaiting(client, None) as waiting:
        assert waiting() is False
    assert client.threads == []


class OpenedClients:
    """A client factory for ``SharedAskers``: each client opened records its asks, and
    whether it was closed."""

    def __init__(self) -> None:
        self.opened: list[RecordingClient] = []
        self.closed: list[RecordingClient] = []

    @contextmanager
    def __call__(self):
        client = RecordingClient(["a single run"])
        self.opened.append(client)
        try:
            yield client
        finally:
            self.closed.append(client)


def test_the_shards_of_one_worker_share_one_asker_per_pool():
    clients = OpenedClients()
    askers = SharedAskers(clients, ask_every=3600.0)
    with askers.for_pool("pool") as first, askers.for_pool("pool") as second:
        assert first is second
        wait_for(lambda: first() is True and second() is True, 10, "the shared answer")
        with askers.for_pool("other") as other:
            assert other is not first
        assert len(clients.closed) == 1, "the other pool's asker stops with its last shard"
    assert clients.opened[0].threads == ["step-aside"], "one ask for both shards"
    assert set(clients.closed) == set(clients.opened), "each closed with its last shard"


def test_a_shard_after_the_last_one_ended_gets_a_fresh_asker():
    clients = OpenedClients()
    askers = SharedAskers(clients, ask_every=3600.0)
    with askers.for_pool("pool") as first:
        wait_for(lambda: first() is True, 10, "the first answer")
    with askers.for_pool("pool") as later:
        assert later is not first
        wait_for(lambda: later() is True, 10, "its own first answer")
    assert len(clients.opened) == 2 and clients.closed == clients.opened


def test_shards_without_a_pool_open_no_client():
    clients = OpenedClients()
    with SharedAskers(clients).for_pool(None) as waiting:
        assert waiting() is False
    assert clients.opened == []
