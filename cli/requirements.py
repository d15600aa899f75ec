"""The script's dependencies: ``requirements.txt`` beside it (or ``--requirements FILE``),
checked before submission so a bad line is reported with its number here, not as a pip
failure on a worker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rgrid_common.errors import InvalidInput

if TYPE_CHECKING:
    from rgrid_common.requirements import Requirements

REQUIREMENTS_FILE = "requirements.txt"


def script_requirements(script: Path, explicit: Path | None = None,
                        runtime: str | None = None) -> Requirements | None:
    """The checked requirements: ``explicit`` (``--requirements FILE``), else the
    ``requirements.txt`` beside a Python script; None when there are none."""
    if explicit is not None:
        if not explicit.is_file():
            raise InvalidInput(f"Requirements file not found: {explicit}.",
                               "Check the path given to --requirements.")
        return _read(explicit)
    is_python = runtime.startswith("python") if runtime else script.suffix == ".py"
    beside = script.resolve().parent / REQUIREMENTS_FILE
    return _read(beside) if is_python and beside.is_file() else None


def _read(path: Path) -> Requirements:
    # imported here: its parser (packaging, ~19 ms) is for scripts that have requirements
    from rgrid_common.requirements import parse_requirements

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}.",
                           "Save it as UTF-8 text with one package per line.") from exc
    return parse_requirements(text, source=str(path))
