from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from rgrid_common.errors import InvalidInput

# Any UTF-8 name, but no control character or backslash, and a plain first character.
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_][^\x00-\x1f\x7f\\]*$")
MAX_KEY_BYTES = 1024  # S3's limit


@dataclass(frozen=True)
class UploadPart:
    number: int
    url: str


@dataclass(frozen=True)
class SignedUpload:
    """One signed PUT, or for a large object on S3 a multipart upload: one signed PUT per
    ``part_size`` slice, completed afterwards with the parts' ETags."""

    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    upload_id: str | None = None
    part_size: int | None = None
    parts: tuple[UploadPart, ...] = ()


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: datetime


class ObjectStore(Protocol):
    def prepare(self, *, retention_days: int) -> None:
        """Create the bucket/folder and its retention rule."""

    def signed_upload(self, key: str, *, size: int, expires: timedelta,
                      encoding: str = "identity") -> SignedUpload:
        """``size`` is the bytes as stored; with ``gzip`` the object is served with
        ``Content-Encoding: gzip``, so HTTP clients get the original bytes."""

    def signed_download(self, key: str, *, expires: timedelta,
                        encoding: str = "identity") -> str: ...

    def complete_upload(self, key: str, *, upload_id: str,
                        parts: list[tuple[int, str]]) -> None: ...

    def stat(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes | None:
        """A small object's bytes as stored (gzip stays gzip); None when there is none.
        For what rides inline (``rgrid_common.inline``): never a large object."""

    def write(self, key: str, data: bytes, *, encoding: str = "identity") -> None:
        """A small object, whole or not at all; served like an uploaded one."""

    def delete(self, key: str) -> None: ...


def checked_key(key: str) -> str:
    """Keys are relative, normalised paths; nothing may climb out with ``..``."""
    parts = key.split("/")
    if (not _SAFE_KEY.match(key) or any(part in ("", ".", "..") for part in parts)
            or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
            or any("\ud800" <= char <= "\udfff" for char in key)):
        raise InvalidInput(f"Invalid object key: {key!r}.")
    return key
