"""The outputs listing runs beside the batch's live stream, never on its thread: a listing
that waited (a slow API, its retries) stopped the stream's reading, and websockets' client
then left the keepalive's pongs unread until the stream dropped."""

from __future__ import annotations

import threading

import pytest

from cli.batch import OffTheStream

GUARD = 30  # seconds: only a broken build waits this long


def test_a_call_returns_while_the_action_still_runs_and_those_made_meanwhile_run_once():
    release, entered = threading.Event(), threading.Event()
    runs: list[str] = []

    def listing() -> None:
        runs.append(threading.current_thread().name)
        entered.set()
        assert release.wait(GUARD)

    with OffTheStream(listing) as in_background:
        in_background()
        assert entered.wait(GUARD)
        in_background(), in_background(), in_background()  # returned: the listing blocks
        assert len(runs) == 1
        release.set()

    assert runs == ["rgrid-outputs-listing"] * 2, "the three owed calls ran as one"
    assert threading.current_thread().name not in runs


def test_what_the_action_raised_is_raised_where_the_block_ends():
    def listing() -> None:
        raise RuntimeError("the API said no")

    with pytest.raises(RuntimeError, match="the API said no"):
        with OffTheStream(listing) as in_background:
            in_background()


def test_an_error_of_the_block_itself_is_not_hidden_by_the_actions():
    failed = threading.Event()

    def listing() -> None:
        failed.set()
        raise RuntimeError("the listing's")

    with pytest.raises(ValueError, match="the stream's"):
        with OffTheStream(listing) as in_background:
            in_background()
            assert failed.wait(GUARD)
            raise ValueError("the stream's")


def test_ctrl_c_leaves_without_waiting_for_the_action():
    release = threading.Event()

    with pytest.raises(KeyboardInterrupt):
        with OffTheStream(lambda: release.wait(GUARD)) as in_background:
            in_background()
            raise KeyboardInterrupt

    assert not release.is_set()  # the block was left with the listing still waiting
    release.set()


def test_no_action_is_a_call_that_does_nothing():
    with OffTheStream(None) as in_background:
        in_background()
