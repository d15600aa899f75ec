"""Workers added to the shared stack's pool, so it has several nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.processes import ManagedProcess
from devstack.stack import DevStack


@pytest.fixture(scope="module")
def second_worker(stack: DevStack) -> Iterator[str]:
    """A second worker on the same pool: the pool now has two nodes."""
    process = ManagedProcess("worker-2", stack.home)
    stack.start_worker(process, "rgrid-test-worker-2")
    yield "rgrid-test-worker-2"
    process.stop()
