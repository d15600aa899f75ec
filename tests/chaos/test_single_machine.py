"""The faults that apply to the single-machine default (`scripts/dev up`: the API on
SQLite, files on local disk, one worker; its Prefect server on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.conftest import ChaosStack
from tests.chaos.faults import FAULTS, Fault, survives


@pytest.mark.slow
@pytest.mark.parametrize("fault", [f for f in FAULTS if f.on_single_machine], ids=str)
def test_single_machine_work_survives(fault: Fault, default_stack: ChaosStack,
                                      tmp_path: Path):
    survives(fault, default_stack, tmp_path)
