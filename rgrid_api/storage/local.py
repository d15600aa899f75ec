"""A local directory as object store, for the single-machine default.

Objects are files under ``root``. Access goes through URLs that the API itself serves
(``/api/v1/storage/...``), signed with HMAC-SHA256 over method, key, expiry and, for an
upload, the exact size: a URL works for one object, one method, a bounded size, and only
until it expires — the same contract as an S3 presigned URL.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

from rgrid_api.storage.base import ObjectInfo, SignedUpload, checked_key
from rgrid_common.errors import InvalidInput

Clock = Callable[[], datetime]
ROUTE = "/api/v1/storage"


class LocalObjectStore:
    def __init__(self, root: Path, *, signing_key: bytes, public_url: str, clock: Clock) -> None:
        self.root = root
        self._signing_key = signing_key
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    def prepare(self, *, retention_days: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, key: str) -> Path:
        return self.root / checked_key(key)

    def signed_upload(self, key: str, *, size: int, expires: timedelta,
                      encoding: str = "identity") -> SignedUpload:
        return SignedUpload(self._signed_url("PUT", key, expires, size, "identity"))

    def signed_download(self, key: str, *, expires: timedelta,
                        encoding: str = "identity") -> str:
        return self._signed_url("GET", key, expires, None, encoding)

    def _signed_url(self, method: str, key: str, expires: timedelta, size: int | None,
                    encoding: str) -> str:
        until = int((self._clock() + expires).timestamp())
        query = {"expires": until, "sig": self.signature(method, key, until, size, encoding)}
        if size is not None:
            query["size"] = size
        if encoding != "identity":
            query["enc"] = encoding
        return f"{self._public_url}{ROUTE}/{quote(checked_key(key))}?{urlencode(query)}"

    def signature(self, method: str, key: str, expires: int, size: int | None,
                  encoding: str = "identity") -> str:
        message = (f"{method}\n{key}\n{expires}\n{'' if size is None else size}\n"
                   f"{encoding}").encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def verify(self, method: str, key: str, expires: int, size: int | None, sig: str,
               encoding: str = "identity") -> bool:
        expected = self.signature(method, key, expires, size, encoding)
        return (hmac.compare_digest(expected, sig)
                and self._clock().timestamp() <= expires)

    def complete_upload(self, key: str, *, upload_id: str,
                        parts: list[tuple[int, str]]) -> None:
        raise InvalidInput("The local store takes every upload in one PUT.",
                           "Upload the file to the URL you were given.")

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self.path_of(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(size=info.st_size,
                          modified=datetime.fromtimestamp(info.st_mtime, timezone.utc))

    def read(self, key: str) -> bytes | None:
        try:
            return self.path_of(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes, *, encoding: str = "identity") -> None:
        """The encoding is the record's to know (a GET names it, signed), not the file's."""
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{secrets.token_hex(8)}.part")
        try:
            partial.write_bytes(data)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def delete_older_than(self, cutoff: datetime) -> int:
        """The local store's retention: files last written before ``cutoff`` go."""
        removed = 0
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink() and \
                    path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    async def receive(self, key: str, chunks: AsyncIterator[bytes], expected_size: int) -> bool:
        """Write an upload to a temporary file; move it into place only when it is whole."""
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{secrets.token_hex(8)}.part")  # a 255-byte name fits
        written = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > expected_size:
                        return False
                    handle.write(chunk)
            if written != expected_size:
                return False
            os.replace(partial, target)
            return True
        finally:
            partial.unlink(missing_ok=True)
