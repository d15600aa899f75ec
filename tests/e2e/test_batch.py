"""Batches end to end: the real CLI, a real pool of two workers, real containers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from devstack.processes import ManagedProcess
from devstack.stack import DevStack
from tests.conftest import write_script
from tests.helpers import Rgrid

PROCESS = """\
import pathlib, sys, time
text = pathlib.Path(sys.argv[1]).read_text()
time.sleep(0.5)
if text.startswith("bad"):
    raise SystemExit(f"bad input {pathlib.Path(sys.argv[1]).name}")
pathlib.Path("result.txt").write_text(text.upper())
"""


@pytest.fixture(scope="module")
def second_worker(stack: DevStack) -> Iterator[str]:
    """A second worker on the same pool: the pool now has two nodes."""
    process = ManagedProcess("worker-2", stack.home)
    stack.start_worker(process, "rgrid-test-worker-2")
    yield "rgrid-test-worker-2"
    process.stop()


def _max_overlap(executions: list[dict]) -> int:
    events = []
    for e in executions:
        events += [(datetime.fromisoformat(e["started_at"]), 1),
                   (datetime.fromisoformat(e["finished_at"]), -1)]
    running = peak = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_a_batch_fans_out_over_the_pool_within_its_parallel_bound(rgrid: Rgrid, tmp_path,
                                                                  second_worker):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "data" / "more").mkdir(parents=True)
    for index in range(10):
        (tmp_path / "data" / f"in{index}.csv").write_text(f"row {index}\n")
    (tmp_path / "data" / "more" / "in0.csv").write_text("bad a\n")
    (tmp_path / "data" / "more" / "broken.csv").write_text("bad b\n")

    result = rgrid("run", "process.py", "--batch", "data/**/*.csv", "--batch", "data/in1.csv",
                   "--parallel", "3", timeout=600)

    assert result.exit_code == 0, result.stderr
    assert "Starting batch bat_" in result.stderr and "12 files, 3 parallel" in result.stderr
    assert "10 succeeded, 2 failed" in result.stderr
    assert "data/more/broken.csv" in result.stderr and "bad input broken.csv" in result.stderr
    outputs = tmp_path / "outputs"
    assert (outputs / "data__in0" / "result.txt").read_text() == "ROW 0\n"
    for index in range(1, 10):
        assert (outputs / f"in{index}" / "result.txt").read_text() == f"ROW {index}\n"
    assert not (outputs / "data__more__in0").exists() and not (outputs / "broken").exists()

    items = [e for e in rgrid("list", "--json", "--limit", "100").json()
             if e["batch_id"] and e["batch_id"] in result.stderr]
    assert len(items) == 12
    failed_ids = (tmp_path / "batch_failures.txt").read_text().split()
    assert sorted(failed_ids) == sorted(e["id"] for e in items if e["status"] == "failed")
    assert _max_overlap(items) <= 3
    assert {e["worker"] for e in items} == {"rgrid-test-worker", second_worker}


def test_an_empty_glob_is_refused_before_anything_is_submitted(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    result = rgrid("run", "process.py", "--batch", "nothing/*.csv")
    assert result.exit_code == 2
    assert "No files match 'nothing/*.csv'" in result.stderr
    assert "quote it" in result.stderr


def test_when_every_item_fails_the_exit_code_is_1(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "x.csv").write_text("bad x\n")
    result = rgrid("run", "process.py", "--batch", "*.csv", timeout=300)
    assert result.exit_code == 1
    assert "0 succeeded, 1 failed" in result.stderr


def test_retry_of_a_batch_reruns_exactly_the_failed_items(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    for name, text in (("a.csv", "fine\n"), ("b.csv", "bad b\n"), ("c.csv", "bad c\n")):
        (tmp_path / name).write_text(text)
    first = rgrid("run", "process.py", "--batch", "*.csv", timeout=300)
    failed_ids = set((tmp_path / "batch_failures.txt").read_text().split())
    assert first.exit_code == 0 and len(failed_ids) == 2

    original_batch = rgrid("list", "--json").json()[0]["batch_id"]
    again = rgrid("retry", "--batch", original_batch, timeout=300)

    assert again.exit_code == 1, again.stderr  # the same inputs fail the same way
    assert "Retrying 2 failed items of" in again.stderr
    retried = [e for e in rgrid("list", "--json").json() if e["retry_of"]][:2]
    assert {e["retry_of"] for e in retried} == failed_ids
    assert len({e["batch_id"] for e in retried}) == 1
    assert retried[0]["batch_id"] != original_batch


def test_retry_of_one_execution_runs_it_again_with_its_inputs(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "one.csv").write_text("one\n")
    first = rgrid("run", "process.py", "one.csv")
    original = rgrid("list", "--json").json()[0]["id"]

    again = rgrid("retry", original)

    assert first.exit_code == again.exit_code == 0, again.stderr
    retried = rgrid("list", "--json").json()[0]
    assert retried["retry_of"] == original and retried["id"] != original
    assert (tmp_path / "result (1).txt").read_text() == "ONE\n"


def test_fail_fast_cancels_what_has_not_started(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "a.csv").write_text("bad first\n")
    for name in ("b", "c", "d", "e", "f"):
        (tmp_path / f"{name}.csv").write_text(f"{name}\n")

    result = rgrid("run", "process.py", "--batch", "*.csv", "--parallel", "1", "--fail-fast",
                   timeout=300)

    batch_id = rgrid("list", "--json").json()[0]["batch_id"]
    items = [e for e in rgrid("list", "--json", "--limit", "100").json()
             if e["batch_id"] == batch_id]
    statuses = sorted(e["status"] for e in items)
    assert statuses.count("failed") == 1 and statuses.count("cancelled") >= 4, statuses
    assert "cancelled" in result.stderr
    assert all("--fail-fast" in (e["error"] or "") for e in items if e["status"] == "cancelled")
