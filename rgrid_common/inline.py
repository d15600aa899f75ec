"""Small files carried inside a request's body instead of through a signed URL of their own.

A batch item's input and output are often a few hundred bytes; each signed URL costs a
request to the API (which is the store on the single-machine default) and, for an
output, one more to be offered it. A file of at most ``INLINE_MAX_BYTES`` as stored rides
in the claim's answer (an input) or in the finish report (an output), base64, as stored
(gzip stays gzip), up to ``INLINE_TOTAL_BYTES`` a body. Either side checks what it takes
against the file's recorded size and sha256 before keeping it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib

from rgrid_common.errors import InvalidInput

INLINE_MAX_BYTES = 64 * 1024
INLINE_TOTAL_BYTES = 1024 * 1024  # base64 makes it 1.4 MB, well under a body's 8 MB
INLINE_MAX_CHARS = (INLINE_MAX_BYTES + 2) // 3 * 4


class InlineBudget:
    """Which files of one body go inline: each small enough, while the body has room."""

    def __init__(self, total_bytes: int = INLINE_TOTAL_BYTES) -> None:
        self._left = total_bytes

    def takes(self, stored_bytes: int) -> bool:
        if stored_bytes > INLINE_MAX_BYTES or stored_bytes > self._left:
            return False
        self._left -= stored_bytes
        return True


def inline_text(stored: bytes) -> str:
    return base64.b64encode(stored).decode("ascii")


def verified(content: str, *, sha256: str, size: int, encoding: str, name: str
             ) -> tuple[bytes, bytes]:
    """What ``content`` carries, once it proves to be the file of that ``sha256`` and
    ``size``: the bytes as stored, and the file itself (gzip undone)."""
    stored = _decoded(content, name)
    file = _unpacked(stored, size, name) if encoding == "gzip" else stored
    if len(file) != size or hashlib.sha256(file).hexdigest() != sha256:
        raise InvalidInput(f"{name}: the inline content does not match its recorded size "
                           "and sha256.")
    return stored, file


def _unpacked(stored: bytes, size: int, name: str) -> bytes:
    """Never past the file's recorded size: a small gzip may claim to unpack to
    gigabytes."""
    unpacker = zlib.decompressobj(wbits=31)
    try:
        unpacked = unpacker.decompress(stored, size + 1)
    except zlib.error as exc:
        raise InvalidInput(f"{name}: the inline content is not valid gzip.") from exc
    if not unpacker.eof:
        raise InvalidInput(f"{name}: the inline content unpacks past its recorded size.")
    return unpacked


def _decoded(content: str, name: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{name}: the inline content is not base64.") from exc
