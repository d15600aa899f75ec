"""Checks of what a user sends that both the CLI and the API apply, so that a request that
would fail on every attempt is refused at the door instead of failing at run time."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from rgrid_common.errors import InvalidInput

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What the runtime sets and needs: a script that changes them breaks its own container.
RESERVED_ENV = frozenset({"PATH", "HOME", "HOSTNAME", "PYTHONHOME", "PYTHONUNBUFFERED",
                          "PYTHONDONTWRITEBYTECODE", "LD_PRELOAD", "LD_LIBRARY_PATH"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_text(value: str) -> str:
    """``value`` if it can be written as UTF-8 and stored: a lone surrogate (possible in
    JSON as ``\\ud800``) cannot be stored, sent to a container or printed; a NUL byte
    cannot be stored in PostgreSQL text."""
    if _SURROGATE.search(value):
        raise ValueError("contains an unpaired surrogate, which is not valid Unicode; "
                         "send UTF-8 text")
    if "\x00" in value:
        raise ValueError("contains a NUL byte, which text cannot hold; remove it")
    return value


def program_text(value: str) -> str:
    """What a program wrote (its output, its error): never refused, since it is not the
    user's typing and must not be lost; a NUL or a lone surrogate, which cannot be
    stored, is kept visible as U+FFFD."""
    return _SURROGATE.sub("\ufffd", value.replace("\x00", "\ufffd"))


Text = Annotated[str, AfterValidator(unicode_text)]
ProgramText = Annotated[str, AfterValidator(program_text)]


def check_env(env: dict[str, str]) -> dict[str, str]:
    """Names are variable names and not the runtime's own; values carry no NUL byte."""
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise InvalidInput(f"Invalid environment variable name: {printable(name)!r}.",
                               "Use NAME=VALUE, where NAME is letters, digits and "
                               "underscores and does not start with a digit.")
        if name in RESERVED_ENV:
            raise InvalidInput(f"The environment variable {name} is set by the runtime and "
                               "cannot be overridden.",
                               "Choose another name; reserved: "
                               f"{', '.join(sorted(RESERVED_ENV))}.")
        if "\x00" in value:
            raise InvalidInput(f"The value of {name} contains a NUL byte.",
                               "Environment values cannot hold NUL; pass binary data in a file.")
    return env


MAX_NAME_BYTES = 255  # one file or folder name, as filesystems hold it
# An output is stored under executions/<id>/outputs/<path>; S3 keys hold 1024 bytes.
MAX_OUTPUT_PATH_BYTES = 960
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def output_path_problem(path: str) -> str | None:
    """Why the store cannot hold an output under ``path`` (relative to /work), or None.
    A name read from disk that is not UTF-8 arrives with surrogate escapes."""
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if _CONTROL_CHARS.search(path):
        return "its name holds a control character or a backslash"
    if any(len(part.encode()) > MAX_NAME_BYTES for part in path.split("/")):
        return f"a name in its path is longer than {MAX_NAME_BYTES} bytes"
    if len(encoded) > MAX_OUTPUT_PATH_BYTES:
        return f"its path is longer than {MAX_OUTPUT_PATH_BYTES} bytes"
    return None


def printable(text: str) -> str:
    """``text`` with what cannot be written as UTF-8 escaped, for messages and logs: a
    name read from disk shows its undecodable bytes (``\\xff``)."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


_CONTROL_ONLY = re.compile(r"[\x00-\x1f\x7f]")


def shown_name(name: str) -> str:
    """A file name as it can be printed on one line: undecodable bytes and control
    characters as ``\\xNN``."""
    return _CONTROL_ONLY.sub(lambda match: f"\\x{ord(match.group()):02x}", printable(name))


def invalid_request(errors: list[dict]) -> InvalidInput:
    """A model's refusal (pydantic's error list) as the error a user reads: where, and
    why. The input itself is never echoed: it may be what cannot be printed (a lone
    surrogate, NaN). ``errors`` on it holds the whole list, made printable."""
    described = [{"loc": [printable(part) if isinstance(part, str) else part
                          for part in error.get("loc", ())],
                  "msg": printable(error.get("msg", "")).removeprefix("Value error, "),
                  "type": error.get("type", "")}
                 for error in errors]
    first = described[0] if described else {"loc": [], "msg": ""}
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    refusal = InvalidInput(f"Invalid request: {where}: {first['msg']}",
                           "Check the value and try again.")
    refusal.errors = described
    return refusal
