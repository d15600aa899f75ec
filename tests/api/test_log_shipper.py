"""The worker's log shipper against the real API: what reaches the log, in which chunks.

A script's line comes from the container in pieces (``print`` writes its text, then its
newline), the two streams' pieces interleaved. The shipper sends a line whole, so a
terminal or the console never shows the other stream's lines inside it."""

from __future__ import annotations

import pytest

from flows.log_shipper import LogShipper
from tests.api.conftest import TEST_WORKER, submit
from tests.helpers import wait_for

LONG = 3600.0  # a flush interval no test outlives: a held line is held for all of it


@pytest.fixture
def execution_id(alice, control_plane) -> str:
    execution = submit(alice)
    control_plane.claim(execution["id"], flow_run_id="fr-logs", worker=TEST_WORKER)
    return execution["id"]


def _logged(caller, execution_id: str) -> list[tuple[str, str]]:
    chunks = caller.get(f"/api/v1/executions/{execution_id}/logs").json()["chunks"]
    return [(chunk["stream"], chunk["data"]) for chunk in chunks]


def _shipper(control_plane, execution_id: str, flush_seconds: float) -> LogShipper:
    return LogShipper(control_plane, execution_id, flush_seconds=flush_seconds,
                      max_chars=1 << 20)


def test_a_line_written_in_two_pieces_is_sent_as_one_chunk(alice, control_plane,
                                                           execution_id):
    shipper = _shipper(control_plane, execution_id, LONG)
    shipper.write("stderr", "err")
    assert shipper.flush()
    assert _logged(alice, execution_id) == []
    shipper.write("stderr", "\n")
    assert shipper.flush()
    assert _logged(alice, execution_id) == [("stderr", "err\n")]


def test_finished_lines_go_at_once_and_the_unfinished_end_waits_for_its_newline(
        alice, control_plane, execution_id):
    shipper = _shipper(control_plane, execution_id, LONG)
    shipper.write("stdout", "one\ntw")
    assert shipper.flush()
    assert _logged(alice, execution_id) == [("stdout", "one\n")]
    shipper.write("stdout", "o\n")
    shipper.write("stderr", "oops\n")
    assert shipper.flush()
    assert _logged(alice, execution_id) == [("stdout", "one\n"), ("stdout", "two\n"),
                                            ("stderr", "oops\n")]


def test_lines_whose_pieces_the_engine_interleaved_come_out_whole_in_the_order_finished(
        alice, control_plane, execution_id):
    """``print('out'); print('err', file=sys.stderr)``: the engine reads the two streams
    apart, so the pieces can come as "out", "err", "\\n", "\\n" (seen in CI)."""
    shipper = _shipper(control_plane, execution_id, LONG)
    for stream, piece in [("stdout", "out"), ("stderr", "err"), ("stdout", "\n"),
                          ("stderr", "\n"), ("stderr", "50%"), ("stdout", "next\n")]:
        shipper.write(stream, piece)
        assert shipper.flush()
    assert _logged(alice, execution_id) == [("stdout", "out\n"), ("stderr", "err\n"),
                                            ("stdout", "next\n")]


def test_rgrid_notes_come_after_what_the_script_wrote_before_them(
        alice, control_plane, execution_id):
    shipper = _shipper(control_plane, execution_id, LONG)
    shipper.write("stdout", "Enter a number: ")
    shipper.note("[rgrid] cancelled by its owner\n")
    assert shipper.flush()
    assert _logged(alice, execution_id) == [("stdout", "Enter a number: "),
                                            ("stderr", "[rgrid] cancelled by its owner\n")]


def test_an_unfinished_line_goes_out_as_it_is_after_an_interval(alice, control_plane,
                                                                 execution_id):
    with _shipper(control_plane, execution_id, 0.05) as shipper:
        shipper.write("stdout", "Enter a number: ")
        wait_for(lambda: _logged(alice, execution_id) == [("stdout", "Enter a number: ")],
                 timeout=30, what="the prompt, sent without its newline", every=0.02)


def test_an_unfinished_line_is_sent_when_the_script_ends(alice, control_plane,
                                                         execution_id):
    with _shipper(control_plane, execution_id, LONG) as shipper:
        shipper.write("stdout", "done")
    assert shipper.undelivered_chars == 0
    assert _logged(alice, execution_id) == [("stdout", "done")]
