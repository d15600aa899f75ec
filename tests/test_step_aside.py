"""When a shard asks Prefect whether single runs wait for its slot. The query itself runs
against a real Prefect in tests/e2e/test_pool_never_wedges.py (a single run submitted
while batches run starts before they drain); here, what ``SingleRunsWaiting`` does with
the answers, through a client that records the asks."""

from __future__ import annotations

import threading

from flows.batch import SingleRunsWaiting
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


def test_the_next_answer_is_asked_for_in_the_background():
    client = RecordingClient([], ["a single run"])
    with SingleRunsWaiting(client, "pool", ask_every=0.0) as waiting:
        assert waiting() is False
        wait_for(lambda: len(client.threads) >= 2, 10, "the ask in the background")
        assert client.threads[:2] == ["MainThread", "step-aside"]


def test_a_fresh_answer_is_read_without_asking():
    client = RecordingClient(["a single run"])
    with SingleRunsWaiting(client, "pool", ask_every=3600.0) as waiting:
        assert waiting() is True
        assert waiting() is True
    assert client.threads == ["MainThread"], "one ask within the interval"


def test_a_failed_ask_leaves_the_last_answer():
    client = RecordingClient(["a single run"], ConnectionError("Prefect restarting"))
    with SingleRunsWaiting(client, "pool", ask_every=0.0) as waiting:
        assert waiting() is True
        wait_for(lambda: len(client.threads) >= 2, 10, "the failed ask")
        assert waiting() is True


def test_a_shard_without_a_pool_never_asks():
    client = RecordingClient(["a single run"])
    with SingleRunsWaiting(client, None) as waiting:
        assert waiting() is False
    assert client.threads == []
