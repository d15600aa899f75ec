"""The layers: a worker node runs the flows with ``rgrid_common`` and never needs the API
package, nor does the CLI. What crosses a process boundary is defined once, in
``rgrid_common.protocol``; this test fails the day something imports ``rgrid_api`` again
from the worker or client side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
CLIENT_SIDE = ("flows", "work_pools", "cli", "hetzner_autoscaler")
ENTRY_POINTS = ("flows.execute", "flows.batch", "flows.scheduled_batch",
                "work_pools.warm_worker", "work_pools.docker", "cli.main",
                "hetzner_autoscaler.autoscaler")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", CLIENT_SIDE)
def test_the_worker_and_client_side_import_nothing_of_the_api(package):
    offending = {str(path.relative_to(PROJECT)): sorted(
                     name for name in _imports(path) if name.split(".")[0] == "rgrid_api")
                 for path in (PROJECT / package).rglob("*.py")}
    assert {path: names for path, names in offending.items() if names} == {}


def test_loading_the_flows_workers_and_cli_loads_no_api_module():
    """Also what they import in turn (``rgrid_common`` included)."""
    probe = ("import importlib, sys\n"
             f"for name in {ENTRY_POINTS!r}: importlib.import_module(name)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rgrid_api'))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"
