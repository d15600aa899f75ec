"""Input files: the script's arguments that name local files are hashed, uploaded unless
the store holds them already, and described to the API, which puts them in /work."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cli.client import ApiClient
from cli.output import err_console
from cli.transfers import (PARALLEL_TRANSFERS, human_size, storage_client,
                           transfer_progress)
from rgrid_common.errors import InvalidInput
from rgrid_common.submission import MAX_BLOBS_PER_OFFER, UploadRequest
from rgrid_common.transfer import WireFile, send_to_target, sha256_of, wire_form


@dataclass
class LocalInput:
    path: Path  # as resolved, through any symlink
    name: str  # its name in /work
    size: int
    arg_indexes: list[int] = field(default_factory=list)
    sha256: str = ""
    wire: WireFile | None = None

    def as_request(self) -> dict:
        return {"name": self.name, "size": self.size, "sha256": self.sha256,
                "arg_indexes": self.arg_indexes, **self.blob()}

    def blob(self) -> dict:
        return {"sha256": self.sha256, "size": self.size, **self.wire.describe()}

    @property
    def blob_id(self) -> tuple[str, str]:
        return self.sha256, self.wire.encoding

    @property
    def bytes_sent(self) -> int:
        return self.size if self.wire.stored_size is None else self.wire.stored_size


def find_inputs(args: list[str], cwd: Path | None = None) -> list[LocalInput]:
    """Arguments that name existing files, one entry per file however often it is named.
    Refuses, before anything is sent, what cannot be an input."""
    cwd = cwd or Path.cwd()
    by_path: dict[Path, LocalInput] = {}
    for index, arg in enumerate(args):
        candidate = cwd / arg
        if not arg or arg.startswith("-") or not os.path.lexists(candidate):
            continue
        local = _checked_file(arg, candidate)
        entry = by_path.setdefault(local, LocalInput(path=local, name=Path(arg).name,
                                                     size=local.stat().st_size))
        entry.arg_indexes.append(index)
    _refuse_name_clashes(list(by_path.values()))
    return list(by_path.values())


def _checked_file(arg: str, candidate: Path) -> Path:
    if candidate.is_symlink() and not candidate.exists():
        raise InvalidInput(f"{arg} is a symlink to a file that does not exist.",
                           "Fix the link or pass the file itself.")
    if candidate.is_dir():
        raise InvalidInput(f"{arg} is a directory; inputs are files.",
                           f"Pass the files in it, e.g. {arg.rstrip('/')}/*.csv, "
                           "or archive it first.")
    if not candidate.is_file():
        raise InvalidInput(f"{arg} is not a regular file.", "Pass a regular file.")
    resolved = candidate.resolve()
    if not os.access(resolved, os.R_OK):
        raise InvalidInput(f"Cannot read {arg}: permission denied.",
                           "Check the file's permissions.")
    return resolved


def _refuse_name_clashes(inputs: list[LocalInput]) -> None:
    seen: dict[str, LocalInput] = {}
    for item in inputs:
        if item.name in seen:
            raise InvalidInput(f"Two different input files are named {item.name!r}: "
                               f"{seen[item.name].path} and {item.path}.",
                               "In /work they would share one name; rename one of them.")
        seen[item.name] = item


def upload_inputs(client: ApiClient, inputs: list[LocalInput], *, force: bool) -> None:
    """Hash every input (text is gzipped for the wire), ask the API which blobs it lacks,
    upload those in parallel."""
    if not inputs:
        return
    with tempfile.TemporaryDirectory(prefix="rgrid-upload-") as scratch:
        with transfer_progress([i.size for i in inputs]) as progress:
            for item in inputs:
                item.sha256 = sha256_of(item.path, progress.track(f"hashing {item.name}",
                                                                  item.size))
                item.wire = wire_form(item.path, item.name, item.size, Path(scratch))
        missing = _missing_blobs(client, _distinct_blobs(inputs), force=force)
        to_send = [item for item in _distinct_blobs(inputs) if item.blob_id in missing]
        if to_send:
            _upload_all(client, to_send, missing)
    cached = [item for item in inputs if item.blob_id not in missing]
    if cached:
        err_console.print(f"[green]✓[/] Using cached inputs ({len(cached)} "
                          f"file{'s' * (len(cached) != 1)}, "
                          f"{human_size(sum(i.size for i in cached))})")
    if to_send:
        size = sum(i.size for i in to_send)
        sent = sum(i.bytes_sent for i in to_send)
        compressed = f", {human_size(sent)} gzipped" if sent < size else ""
        err_console.print(f"[green]✓[/] Uploaded {len(to_send)} "
                          f"input{'s' * (len(to_send) != 1)} ({human_size(size)}{compressed})")


def _missing_blobs(client: ApiClient, blobs: list[LocalInput], *,
                   force: bool) -> dict[tuple[str, str], dict]:
    """The API's upload offer for each blob its store lacks, asked about a page of
    ``MAX_BLOBS_PER_OFFER`` at a time (a 10,000-file batch takes ten requests)."""
    missing = {}
    for start in range(0, len(blobs), MAX_BLOBS_PER_OFFER):
        page = blobs[start:start + MAX_BLOBS_PER_OFFER]
        offers = client.post("/api/v1/uploads", UploadRequest(
            files=[item.blob() for item in page], force=force))["files"]
        missing.update({(offer["sha256"], offer["encoding"]): offer
                        for offer in offers if not offer["present"]})
    return missing


def _distinct_blobs(inputs: list[LocalInput]) -> list[LocalInput]:
    return list({item.blob_id: item for item in inputs}.values())


def _upload_all(client: ApiClient, items: list[LocalInput],
                offers: dict[tuple[str, str], dict]) -> None:
    with storage_client() as storage, \
            transfer_progress([i.bytes_sent for i in items]) as progress, \
            ThreadPoolExecutor(PARALLEL_TRANSFERS) as pool:
        def send(item: LocalInput) -> None:
            completion = send_to_target(
                storage, offers[item.blob_id], item.wire.path, size=item.bytes_sent,
                on_progress=progress.track(f"uploading {item.name}", item.bytes_sent))
            if completion:
                client.post("/api/v1/uploads/complete", {
                    "sha256": item.sha256, "encoding": item.wire.encoding, **completion})
        list(pool.map(send, items))
