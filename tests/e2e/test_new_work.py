"""A warm worker starts a run, or a batch's shard, when the API tells it a flow run was
made for its pool, not at its next poll of Prefect (``work_pools.new_work``). Here the
only worker on the pool polls Prefect once an hour: once its first poll is behind it,
only being told can start a run within the test's bound."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from devstack.processes import ManagedProcess
from tests.conftest import write_script
from tests.helpers import wait_for, worker_polling, worker_stopped
from work_pools import PROCESS_POOL

HOUR = 3600
SLOW_POLLER = "rgrid-test-slow-poller"


def test_a_worker_told_of_new_work_starts_it_without_waiting_for_its_poll(
        rgrid, tmp_path, stack):
    write_script(tmp_path, "told.py", f"# {secrets.token_hex(4)}\nprint('told')\n")
    with _only_a_slow_poller(stack):
        # taken at its first poll or when told; either way that poll is then behind it
        assert _run_to_the_end(rgrid) == "succeeded"
        assert _run_to_the_end(rgrid) == "succeeded"  # only being told starts this


def test_a_batchs_shards_are_told_to_a_worker_without_waiting_for_its_poll(
        rgrid, tmp_path, stack):
    """The coordinator makes the shards' flow runs itself, then has the API tell their
    pool (``flows.batch.run_batch``)."""
    write_script(tmp_path, "told.py", f"# {secrets.token_hex(4)}\nprint('told')\n")
    write_script(tmp_path, "each.py", "import sys\nprint(open(sys.argv[1]).read())\n")
    (tmp_path / "in").mkdir()
    for n in range(3):
        (tmp_path / "in" / f"{secrets.token_hex(4)}.txt").write_text(f"{n}\n")
    with _only_a_slow_poller(stack):
        assert _run_to_the_end(rgrid) == "succeeded"  # its first poll is behind it
        batch = rgrid("run", "each.py", "--batch", "in/*.txt", "--no-cache",
                      "--parallel", "2")
    assert batch.exit_code == 0, batch.stderr
    assert "3 succeeded, 0 failed" in batch.stderr


def test_a_run_told_of_while_every_slot_was_taken_starts_when_one_frees(
        rgrid, tmp_path, stack):
    """Told of a run while full, the worker cannot take it; it polls as soon as a slot
    frees (``WarmProcessWorker.poll_when_freed``), not at its next poll."""
    write_script(tmp_path, "told.py", f"# {secrets.token_hex(4)}\nprint('told')\n")
    write_script(tmp_path, "holds.py", f"# {secrets.token_hex(4)}\n"
                 "import time\ntime.sleep(8)\nprint('held the slot')\n")
    with _only_a_slow_poller(stack, limit=1):
        assert _run_to_the_end(rgrid) == "succeeded"  # its first poll is behind it
        holder = rgrid("run", "holds.py", "--no-cache", "--detach", "--json").json()
        wait_for(lambda: rgrid("status", holder["id"], "--json").json()["status"]
                 == "running", 60, f"{holder['id']} to take the only slot")
        waiting = rgrid("run", "told.py", "--no-cache", "--detach", "--json").json()
        finished = _finished(rgrid, waiting["id"])
        held = rgrid("status", holder["id"], "--json").json()
    assert finished["status"] == "succeeded"
    assert held["status"] == "succeeded"
    # it was made while the slot was taken, and started once it was free
    made, freed, started = (datetime.fromisoformat(moment) for moment in (
        waiting["created_at"], held["finished_at"], finished["started_at"]))
    assert made < freed <= started


@contextmanager
def _only_a_slow_poller(stack, limit: int | None = None) -> Iterator[None]:
    """The pool's workers stopped for the block; in their place one polling hourly,
    running ``limit`` flow runs at once (the settings' if None)."""
    slow = ManagedProcess("worker-slow", stack.home)
    with worker_stopped(stack):
        try:
            stack.start_worker(slow, SLOW_POLLER, query_seconds=HOUR, limit=limit)
            wait_for(lambda: worker_polling(stack.settings.prefect_api_url,
                                            PROCESS_POOL.name, SLOW_POLLER), 60,
                     "the slow-polling worker")
            yield
        finally:
            slow.stop()


def _run_to_the_end(rgrid) -> str:
    execution = rgrid("run", "told.py", "--no-cache", "--detach", "--json").json()
    return _finished(rgrid, execution["id"])["status"]


def _finished(rgrid, execution_id: str) -> dict:
    finished = wait_for(lambda: (found := rgrid("status", execution_id, "--json").json())
                        ["status"] in ("succeeded", "failed") and found, 90,
                        f"{execution_id} to finish (the worker polls once an hour)")
    assert finished["worker"] == SLOW_POLLER
    return finished
