"""Coordination never takes the slots its items need (issue 12): on a pool of four slots
(two workers of two), eight batches and ten single runs submitted at once all finish, and
a single run submitted while the batches run starts before they have drained — their
coordinators wait on the control pool, their shards queue behind single runs and step
aside for one between items."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.conftest import write_script
from tests.helpers import wait_for

BATCHES, ITEMS, SINGLES = 8, 4, 10
ITEM = "import sys, time\ntime.sleep(2)\nprint(open(sys.argv[1]).read())\n"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
def test_eight_batches_and_ten_runs_all_finish_and_a_late_run_does_not_wait_for_them(
        rgrid, tmp_path, stack, second_worker):
    tag = secrets.token_hex(4)
    write_script(tmp_path, f"item_{tag}.py", ITEM)
    write_script(tmp_path, f"single_{tag}.py", "import sys\nprint('single', sys.argv[1:])\n")
    for index in range(ITEMS):
        (tmp_path / f"in{index}.txt").write_text(f"item {index}\n")
    submissions = [("run", f"item_{tag}.py", "--batch", "in*.txt", "--parallel", "2",
                    "--detach", "--no-cache")] * BATCHES + [
        ("run", f"single_{tag}.py", str(index), "--detach", "--json", "--no-cache")
        for index in range(SINGLES)]

    with ThreadPoolExecutor(len(submissions)) as pool:
        results = list(pool.map(lambda args: rgrid(*args, timeout=300), submissions))
    assert [r.exit_code for r in results] == [0] * len(submissions), \
        [r.stderr for r in results if r.exit_code]
    batch_ids = [r.stderr.split("Starting batch ")[1].split(":")[0] for r in results[:BATCHES]]
    wait_for(lambda: _batch_items(rgrid, tag, "running"), 120, "a batch item running")
    late = rgrid("run", f"single_{tag}.py", "late", "--detach", "--json").json()

    wait_for(lambda: all(rgrid("status", b, "--json").json()["status"] == "finished"
                         for b in batch_ids), 600, "every batch to finish", every=2)
    late = wait_for(lambda: (lambda e: e if e["finished_at"] else None)(
        rgrid("status", late["id"], "--json").json()), 120, "the late run to finish")
    items = _batch_items(rgrid, tag)
    singles = [e for e in _listed(rgrid) if e["script_name"] == f"single_{tag}.py"]

    assert len(items) == BATCHES * ITEMS and all(e["status"] == "succeeded" for e in items)
    assert len(singles) == SINGLES + 1 and all(e["status"] == "succeeded" for e in singles)
    last_item_start = max(_at(e["started_at"]) for e in items)
    waited = (_at(late["started_at"]) - _at(late["created_at"])).total_seconds()
    print(f"the late run started {waited:.1f} s after its submission; the last batch item "
          f"{(last_item_start - _at(late['started_at'])).total_seconds():.1f} s after it")
    assert _at(late["started_at"]) < last_item_start, \
        "the late single run waited for the batches to drain"


def _listed(rgrid) -> list[dict]:
    return rgrid("list", "--json", "--limit", "1000").json()


def _batch_items(rgrid, tag: str, status: str | None = None) -> list[dict]:
    return [e for e in _listed(rgrid) if e["script_name"] == f"item_{tag}.py"
            and (status is None or e["status"] == status)]
