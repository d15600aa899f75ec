"""The faults on the distributed set-up: Prefect server and RGrid API on PostgreSQL,
files in S3, two workers, one of them in a network namespace of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosStack
from tests.chaos.faults import FAULTS, Fault, survives


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_distributed_work_survives(fault: Fault, distributed_stack: ChaosStack,
                                   tmp_path: Path):
    survives(fault, distributed_stack, tmp_path)
