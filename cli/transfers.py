"""How the CLI shows transfers: a Rich progress bar with MB/s for large files, nothing for
small ones, and sizes people read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

from cli import http
from cli.output import err_console
from rgrid_common.transfer import Progress as ProgressCallback
from rgrid_common.limits import human_size  # noqa: F401 - the CLI's size text

PROGRESS_ABOVE_BYTES = 10 * 1024 * 1024
PARALLEL_TRANSFERS = 4


def storage_client() -> httpx.Client:
    """For signed URLs only; it never carries the API key."""
    return http.client(timeout=httpx.Timeout(60, connect=10), follow_redirects=False)


class TransferProgress:
    """One bar per large file; callbacks are thread-safe (Rich's progress is)."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def track(self, label: str, size: int) -> ProgressCallback | None:
        if self._progress is None or size < PROGRESS_ABOVE_BYTES:
            return None
        task = self._progress.add_task(label, total=size)
        return lambda advance: self._progress.advance(task, advance)


@contextmanager
def transfer_progress(sizes: list[int]) -> Iterator[TransferProgress]:
    """Bars only when some file is large enough to be worth watching."""
    if not any(size >= PROGRESS_ABOVE_BYTES for size in sizes):
        yield TransferProgress(None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        yield TransferProgress(progress)


