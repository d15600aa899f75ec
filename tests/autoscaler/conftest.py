"""A stack whose pool has no worker (nodes the autoscaler makes serve it), and the fake
Hetzner API the autoscaler makes them through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import DevStack
from tests.conftest import _running_stack
from tests.fake_hetzner import FakeHetzner
from tests.helpers import Rgrid


@pytest.fixture(scope="session")
def empty_pool_stack(tmp_path_factory: pytest.TempPathFactory,
                     new_postgres_database) -> Iterator[DevStack]:
    yield from _running_stack(tmp_path_factory.mktemp("rgrid-autoscaled-home"),
                              new_postgres_database(), worker_name="unused",
                              start_worker=False)


@pytest.fixture
def fake_hetzner() -> Iterator[FakeHetzner]:
    fake = FakeHetzner(max_servers=5).start()
    yield fake
    fake.stop()


@pytest.fixture
def rgrid_on_empty_pool(empty_pool_stack: DevStack, tmp_path: Path) -> Rgrid:
    return Rgrid(empty_pool_stack.settings.cli_config, tmp_path)
