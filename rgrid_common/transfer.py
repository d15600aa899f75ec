"""Streamed, verified, retried transfers to and from signed URLs — used by the CLI on the
user's machine and by the flow on a worker. Nothing is ever read whole into memory but a
small file carried inline (``rgrid_common.inline``, 64 KB at most), and a file reaches
its final name only once its size and sha256 are checked."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from rgrid_common.errors import RGridError
from rgrid_common.inline import verified

CHUNK_BYTES = 1024 * 1024
# A storage server that does not answer (restarting, the network briefly gone: connection
# errors, 5xx) is waited out for about a minute, backing off: a worker that gave up sooner
# spent an item's attempts inside one 30 s outage (README, Chaos). Bytes that arrive wrong
# are tried MISMATCH_ATTEMPTS times: waiting does not mend those.
UNAVAILABLE_WAITS = (0.5, 1, 2, 4, 8, 15, 15, 15)
MISMATCH_ATTEMPTS = 4
GZIP_MIN_BYTES = 1024
GZIP_FAST_ABOVE_BYTES = 64 * 1024 * 1024
TEXT_TYPES = {"application/json", "application/xml", "application/x-yaml", "application/yaml",
              "application/javascript", "application/x-ndjson", "application/sql",
              "image/svg+xml"}
TEXT_SUFFIXES = {".log", ".jsonl", ".ndjson", ".yaml", ".yml", ".tsv", ".md", ".toml", ".ini"}
PARALLEL_PARTS = 4
Progress = Callable[[int], None]


class TransferFailed(RGridError):
    code = "transfer_failed"
    transient = True


@dataclass(frozen=True)
class WireFile:
    """What is sent for a file: the file itself, or for text a gzip copy of it, which the
    store keeps as is and serves with ``Content-Encoding: gzip`` (clients undo it)."""

    path: Path
    encoding: str = "identity"
    stored_size: int | None = None

    def describe(self) -> dict:
        return {"encoding": self.encoding, "stored_size": self.stored_size}


def wire_form(file: Path, name: str, size: int, scratch: Path) -> WireFile:
    """Text (csv, json, txt, …) of at least 1 KB is gzipped into ``scratch``, streamed;
    kept only if that saves at least a tenth."""
    if not _is_text(name) or size < GZIP_MIN_BYTES:
        return WireFile(file)
    scratch.mkdir(parents=True, exist_ok=True)
    packed = scratch / f"{secrets.token_hex(8)}.gz"
    level = 6 if size < GZIP_FAST_ABOVE_BYTES else 1
    with file.open("rb") as source, gzip.GzipFile(packed, "wb", compresslevel=level,
                                                    mtime=0) as target:
        shutil.copyfileobj(source, target, CHUNK_BYTES)
    packed_size = packed.stat().st_size
    if packed_size > size * 0.9:
        packed.unlink()
        return WireFile(file)
    return WireFile(packed, "gzip", packed_size)


def _is_text(name: str) -> bool:
    kind = mimetypes.guess_type(name)[0] or ""
    return (kind.startswith("text/") or kind in TEXT_TYPES
            or Path(name).suffix.lower() in TEXT_SUFFIXES)


def sha256_of(path: Path, on_progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            digest.update(chunk)
            if on_progress:
                on_progress(len(chunk))
    return digest.hexdigest()


def send_to_target(http: httpx.Client, target: dict, path: Path, *, size: int,
                   on_progress: Progress | None = None) -> dict | None:
    """Upload ``path`` where the API said (an ``UploadTarget``): one PUT, or the parts of
    a multipart upload, 4 at a time. Returns what completes a multipart upload
    (``upload_id`` and the parts' ETags), else None."""
    multipart = target.get("multipart")
    if not multipart:
        upload_file(http, target["url"], path, size=size, headers=target.get("headers"),
                    on_progress=on_progress)
        return None
    part_size = multipart["part_size"]

    def send_part(part: dict) -> dict:
        offset = (part["number"] - 1) * part_size
        etag = upload_file(http, part["url"], path, size=min(part_size, size - offset),
                           offset=offset, on_progress=on_progress)
        return {"number": part["number"], "etag": etag}

    with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
        parts = list(pool.map(send_part, multipart["parts"]))
    return {"upload_id": multipart["upload_id"], "parts": parts}


def upload_file(http: httpx.Client, url: str, path: Path, *, size: int, offset: int = 0,
                headers: dict[str, str] | None = None,
                on_progress: Progress | None = None) -> str:
    """PUT ``size`` bytes of ``path`` from ``offset`` to a signed URL, streamed; transport
    errors and 5xx answers are retried from the start (progress is rewound). Returns the
    ETag the server answered."""
    sent_total = 0
    etag = ""

    def body() -> Iterator[bytes]:
        nonlocal sent_total
        with path.open("rb") as handle:
            handle.seek(offset)
            for chunk in _chunks(handle, size):
                sent_total += len(chunk)
                if on_progress:
                    on_progress(len(chunk))
                yield chunk

    def attempt() -> None:
        nonlocal sent_total, etag
        if on_progress and sent_total:
            on_progress(-sent_total)
        sent_total = 0
        response = http.put(url, content=body(),
                            headers={**(headers or {}), "Content-Length": str(size)})
        _check(response, f"Uploading {path.name}")
        etag = response.headers.get("etag", "")

    _retrying(attempt, f"Uploading {path.name}")
    return etag


def download_verified(http: httpx.Client, url: str, folder: Path, *, sha256: str, size: int,
                      name: str, on_progress: Progress | None = None) -> Path:
    """GET a signed URL into a hidden temporary file in ``folder``; returns it once its
    size and sha256 match. The caller moves it to its final name. On failure nothing is
    left behind."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".rgrid-{secrets.token_hex(8)}.part"  # a 255-byte name fits too

    def attempt() -> None:
        digest, received = hashlib.sha256(), 0
        try:
            with http.stream("GET", url) as response, partial.open("wb") as handle:
                _check(response, f"Downloading {name}")
                for chunk in response.iter_bytes(CHUNK_BYTES):  # gzip is undone here
                    handle.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if on_progress:
                        on_progress(len(chunk))
        except BaseException:
            if on_progress and received:
                on_progress(-received)
            partial.unlink(missing_ok=True)
            raise
        if received != size or digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            if on_progress:
                on_progress(-received)
            raise _Mismatch(f"{name}: received {received} bytes that do not match the "
                            f"recorded size {size} and sha256")

    _retrying(attempt, f"Downloading {name}")
    return partial


def write_inline(content: str, folder: Path, *, sha256: str, size: int, encoding: str,
                 name: str) -> Path:
    """A file carried inline (``rgrid_common.inline``), once it proves to be that file,
    into a hidden temporary file in ``folder``, as ``download_verified`` leaves one."""
    _stored, file = verified(content, sha256=sha256, size=size, encoding=encoding, name=name)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".rgrid-{secrets.token_hex(8)}.part"
    partial.write_bytes(file)
    return partial


def place_without_overwrite(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target``, or to ``target (1)``, ``target (2)``… if that name is
    taken: an existing file is never replaced. ``os.link`` fails rather than overwrite, so
    a file appearing meanwhile is safe too."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for number in range(10_000):
        candidate = target if number == 0 else target.with_name(
            f"{target.stem} ({number}){target.suffix}")
        try:
            os.link(source, candidate)
        except FileExistsError:
            continue
        source.unlink()
        return candidate
    raise TransferFailed(f"Too many files named like {target}.", "Choose another --output-dir.")


class _Unavailable(Exception):
    """The storage server answered 5xx."""


class _Mismatch(Exception):
    """What arrived is not what was recorded."""


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 500:
        raise _Unavailable(f"the storage server answered {response.status_code}")
    if not response.is_success:
        response.read()
        detail = response.text[:300]
        raise TransferFailed(f"{what} failed: the storage server answered "
                             f"{response.status_code}. {detail}".strip(),
                             "Run the command again for a fresh signed URL.")


def _retrying(attempt: Callable[[], None], what: str) -> None:
    unavailable = mismatched = 0
    while True:
        try:
            attempt()
            return
        except (httpx.TransportError, _Unavailable) as exc:
            if unavailable == len(UNAVAILABLE_WAITS):
                raise TransferFailed(
                    f"{what} failed: the storage server did not answer for "
                    f"{sum(UNAVAILABLE_WAITS):.0f} s ({unavailable + 1} attempts): {exc}",
                    "Check the connection to the storage server and run the command "
                    "again.") from exc
            time.sleep(UNAVAILABLE_WAITS[unavailable])
            unavailable += 1
        except _Mismatch as exc:
            mismatched += 1
            if mismatched == MISMATCH_ATTEMPTS:
                raise TransferFailed(f"{what} failed after {MISMATCH_ATTEMPTS} attempts: {exc}",
                                     "Run the command again; if it fails the same way, the "
                                     "stored file is damaged.") from exc
            time.sleep(0.5)


def _chunks(handle: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    remaining = limit
    while remaining is None or remaining > 0:
        chunk = handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk
