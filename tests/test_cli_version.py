"""`rgrid --version`: the first thing a bug report asks for."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_rgrid_version_prints_the_installed_version():
    declared = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([sys.executable, "-P", "-m", "cli.main", "--version"],
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"rgrid {declared}\n"), done.stderr
