"""A warm worker starts a run when the API tells it a flow run was made for its pool,
not at its next poll of Prefect (``work_pools.new_work``). Here the only worker on the
pool polls Prefect once an hour: once its first poll is behind it, only being told can
start a run within the test's bound."""

from __future__ import annotations

import secrets

from devstack.processes import ManagedProcess
from tests.conftest import write_script
from tests.helpers import wait_for, worker_polling, worker_stopped
from work_pools import PROCESS_POOL

HOUR = 3600
SLOW_POLLER = "rgrid-test-slow-poller"


def test_a_worker_told_of_new_work_starts_it_without_waiting_for_its_poll(
        rgrid, tmp_path, stack):
    write_script(tmp_path, "told.py", f"# {secrets.token_hex(4)}\nprint('told')\n")
    slow = ManagedProcess("worker-slow", stack.home)
    with worker_stopped(stack):
        try:
            stack.start_worker(slow, SLOW_POLLER, query_seconds=HOUR)
            wait_for(lambda: worker_polling(stack.settings.prefect_api_url,
                                            PROCESS_POOL.name, SLOW_POLLER), 60,
                     "the slow-polling worker")
            # taken at its first poll or when told; either way that poll is then behind it
            assert _run_to_the_end(rgrid) == "succeeded"
            assert _run_to_the_end(rgrid) == "succeeded"  # only being told starts this
        finally:
            slow.stop()


def _run_to_the_end(rgrid) -> str:
    execution = rgrid("run", "told.py", "--no-cache", "--detach", "--json").json()
    finished = wait_for(lambda: (found := rgrid("status", execution["id"], "--json").json())
                        ["status"] in ("succeeded", "failed") and found, 90,
                        f"{execution['id']} to finish (the worker polls once an hour)")
    assert finished["worker"] == SLOW_POLLER
    return finished["status"]
