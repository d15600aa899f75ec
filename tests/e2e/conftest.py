"""Workers added to the shared stack's pool, so it has several nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.processes import ManagedProcess
from devstack.stack import DevStack
from tests.helpers import wait_for, worker_polling
from work_pools import PROCESS_POOL


@pytest.fixture(scope="module")
def second_worker(stack: DevStack) -> Iterator[str]:
    """A second worker on the same pool, polling before any test uses it: the pool now
    has two nodes (four slots), and work spreads over both (a worker takes at most its
    limit, so a batch with more shards than that needs both)."""
    process = ManagedProcess("worker-2", stack.home)
    stack.start_worker(process, "rgrid-test-worker-2")
    wait_for(lambda: worker_polling(stack.settings.prefect_api_url, PROCESS_POOL.name,
                                    "rgrid-test-worker-2"), 60, "the second worker")
    yield "rgrid-test-worker-2"
    process.stop()
