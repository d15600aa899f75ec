"""The execution's /work on the worker: a fresh folder with the script and the inputs in
it before the container starts, and afterwards the files the script left there."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from rgrid_common.files import content_type
from rgrid_common.protocol import InputDownload, JobSpec
from rgrid_common.transfer import download_verified, write_inline

Fingerprint = tuple[int, int]  # size, mtime in ns


@dataclass(frozen=True)
class LocalOutput:
    path: str  # relative to /work, with "/" separators
    file: Path
    size: int

    @property
    def content_type(self) -> str:
        return content_type(self.path)


@contextmanager
def fresh_work_dir(work_root: Path, prefix: str, *, for_container: bool = True) -> Iterator[Path]:
    """A new folder, removed afterwards whatever happened. One the container mounts as
    /work is writable by its non-root uid (the parent stays 0700)."""
    work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    work_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=work_root))
    try:
        if for_container:
            work_dir.chmod(0o777)
        yield work_dir
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def place_script(work_dir: Path, job: JobSpec) -> None:
    script = work_dir / job.script_name
    script.write_text(job.script_content)
    script.chmod(0o644)


def place_inputs(work_dir: Path, inputs: list[InputDownload], http: httpx.Client) -> None:
    """Each input, verified against its sha256, to ``/work/<name>``: from the claim's
    answer when it came inline, else downloaded."""
    for item in inputs:
        if item.content is not None:
            partial = write_inline(item.content, work_dir, sha256=item.sha256, size=item.size,
                                   encoding=item.encoding, name=item.name)
        else:
            partial = download_verified(http, item.url, work_dir, sha256=item.sha256,
                                        size=item.size, name=item.name)
        partial.chmod(0o644)
        os.replace(partial, work_dir / item.name)


def fingerprints(work_dir: Path) -> dict[str, Fingerprint]:
    """What /work holds before the script runs, to tell new or changed files afterwards."""
    return {output.path: _fingerprint(output.file) for output in _regular_files(work_dir)}


def changed_files(work_dir: Path, before: dict[str, Fingerprint]) -> list[LocalOutput]:
    """Regular files new or changed since ``before``. Symlinks are never followed (a link
    to /etc/passwd is not an output), nor are devices, sockets or FIFOs."""
    return [output for output in _regular_files(work_dir)
            if before.get(output.path) != _fingerprint(output.file)]


def _regular_files(work_dir: Path) -> Iterator[LocalOutput]:
    for folder, subfolders, names in os.walk(work_dir, followlinks=False):
        subfolders.sort()
        for name in sorted(names):
            file = Path(folder) / name
            info = file.lstat()
            if stat.S_ISREG(info.st_mode):
                yield LocalOutput(path=file.relative_to(work_dir).as_posix(), file=file,
                                  size=info.st_size)


def _fingerprint(file: Path) -> Fingerprint:
    info = file.lstat()
    return info.st_size, info.st_mtime_ns
