"""Parsing of user-given resource limits (``--memory 512m``, ``--env K=V``)."""

from __future__ import annotations

import re

from rgrid_common.errors import InvalidInput
from rgrid_common.validation import check_env

_MEMORY = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_memory(text: str) -> int:
    """``"512m"`` → megabytes (512). Accepts k, m, g suffixes (binary units)."""
    match = _MEMORY.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"Invalid memory limit: {text!r}.",
            "Use a size such as 256m, 512m or 2g.",
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    megabytes = number * _UNIT_BYTES[unit] // 1024**2
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
