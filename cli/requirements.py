"""The script's dependencies: ``requirements.txt`` beside it, checked before submission so
a bad line is reported with its number here, not as a pip failure on a worker."""

from __future__ import annotations

from pathlib import Path

from rgrid_common.errors import InvalidInput
from rgrid_common.requirements import Requirements, parse_requirements

REQUIREMENTS_FILE = "requirements.txt"


def script_requirements(script: Path) -> Requirements | None:
    """The checked requirements beside ``script``; None when it has none."""
    path = script.resolve().parent / REQUIREMENTS_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}.",
                           "Save it as UTF-8 text with one package per line.") from exc
    return parse_requirements(text, source=str(path))
