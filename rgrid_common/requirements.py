"""A script's ``requirements.txt``, checked before anything is submitted.

Only named packages from the configured index may be asked for: options that would point
pip elsewhere (``--index-url``, ``--find-links``, ``-r other.txt``, …), local paths and
direct URLs are refused, each with its line number, as is anything pip would not parse.
The normalised form (one requirement per line, names canonical, sorted) is what a
dependency layer and the result cache are keyed by, so case, formatting and order do not
matter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from rgrid_common.errors import InvalidInput

ALLOWED_OPTIONS = ("--hash",)  # per requirement: pins the exact file, reaches nowhere new
HINT = ("List packages by name and version from the index RGrid is configured with, "
        "e.g. `pandas==2.2.3`; drop pip options, paths and URLs.")


@dataclass(frozen=True)
class Requirements:
    lines: tuple[str, ...]  # normalised, sorted

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def parse_requirements(text: str, source: str = "requirements.txt") -> Requirements:
    """The checked requirements; ``InvalidInput`` naming ``source``'s first bad line."""
    lines = []
    for number, line in _logical_lines(text):
        lines.append(_checked_line(line, number, source))
    return Requirements(tuple(sorted(set(lines))))


def _logical_lines(text: str):
    """(first line number, content) with comments dropped and ``\\`` continuations joined."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def _checked_line(line: str, number: int, source: str) -> str:
    where = f"{source}, line {number}"
    if line.startswith("-"):
        option = line.split()[0].split("=")[0]
        raise InvalidInput(f"{where}: the pip option {option} is not allowed.", HINT)
    requirement_part, *options = line.split(" --")
    for option in options:
        if not option.startswith(tuple(name[2:] for name in ALLOWED_OPTIONS)):
            raise InvalidInput(f"{where}: the pip option --{option.split('=')[0]} is not "
                               "allowed.", HINT)
    try:
        requirement = Requirement(requirement_part)
    except InvalidRequirement as exc:
        if _looks_like_path(requirement_part):
            raise InvalidInput(f"{where}: {requirement_part!r} is a local path or URL.",
                               HINT) from exc
        first_line = str(exc).splitlines()[0]
        raise InvalidInput(f"{where}: cannot parse {requirement_part!r} ({first_line}).",
                           HINT) from exc
    if requirement.url:
        raise InvalidInput(f"{where}: {requirement.name} comes from a URL "
                           f"({requirement.url}), not the index.", HINT)
    requirement.name = canonicalize_name(requirement.name)  # pip's view: Tabulate is tabulate
    return " --".join([str(requirement), *options])


def _looks_like_path(text: str) -> bool:
    return (text.startswith((".", "/", "~")) or "://" in text
            or text.endswith((".whl", ".tar.gz", ".zip")))
