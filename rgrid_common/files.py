"""Small file matters every side shares: a file's content type, a private file written
whole."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

OCTET_STREAM = "application/octet-stream"


def content_type(name: str) -> str:
    """What a file's name says it holds; ``application/octet-stream`` when it says
    nothing."""
    return mimetypes.guess_type(name)[0] or OCTET_STREAM


def write_private(path: Path, text: str) -> None:
    """Writes ``text`` with mode 0600 (the file holds a secret), atomically: a reader sees
    the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)
