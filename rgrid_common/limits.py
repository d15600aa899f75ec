"""Parsing of user-given resource limits (``--memory 512m``, ``--disk 2g``,
``--env K=V``)."""

from __future__ import annotations

import re

from rgrid_common.errors import InvalidInput
from rgrid_common.validation import check_env

_MEMORY = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_disk(text: str) -> int:
    """``"2g"`` → megabytes (2048): the disk allowance of /work. Same units as memory."""
    megabytes = _megabytes(text)
    if megabytes is None or megabytes < 16:
        raise InvalidInput(f"Invalid disk allowance: {text!r}.",
                           "Use a size of at least 16m, such as 512m, 1g or 10g.")
    return megabytes


def _megabytes(text: str) -> int | None:
    """``"512m"`` → 512 (binary units, rounded down); None for what is not a size, or
    is zero."""
    match = _MEMORY.match(text)
    if not match or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _UNIT_BYTES[match.group(2).lower()] // 1024**2


def size_text(megabytes: int) -> str:
    """1024 → "1 GB", 1536 → "1536 MB": how a limit is said back to the user."""
    return f"{megabytes // 1024} GB" if megabytes % 1024 == 0 else f"{megabytes} MB"


def parse_memory(text: str) -> int:
    """``"512m"`` → megabytes (512). Accepts k, m, g suffixes (binary units)."""
    megabytes = _megabytes(text)
    if megabytes is None:
        raise InvalidInput(
            f"Invalid memory limit: {text!r}.",
            "Use a size such as 256m, 512m or 2g.",
        )
    if megabytes < 6:
        raise InvalidInput(
            f"Memory limit {text!r} is too small.",
            "Docker needs at least 6m; use e.g. 64m or more.",
        )
    return megabytes


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` → dict, checked as the API will check it (``check_env``)."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(
                f"Invalid --env value: {pair!r}.",
                "Use --env NAME=VALUE, where NAME is letters, digits and underscores.",
            )
        env[name] = value
    return check_env(env)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
