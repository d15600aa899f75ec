"""Batches from the CLI: expand the globs, submit one batch, show one progress line, bring
each item's outputs back into its own folder, and sum up the failures."""

from __future__ import annotations

import glob
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from rich.live import Live
from rich.text import Text

from cli.client import ApiClient
from cli.live import StreamUnavailable, batch_messages
from cli.output import err_console
from cli.outputs import download_outputs, place_outputs
from rgrid_common.errors import InvalidInput
from rgrid_common.status import BatchStatus
from rgrid_common.stream import ItemEvent, ProgressEvent

BATCH_FAILURES_FILE = "batch_failures.txt"
PARALLEL_ITEMS = 4
COMMIT_SLACK = timedelta(seconds=10)  # see BatchDownloader.collect


def expand_batch(patterns: list[str], cwd: Path) -> list[str]:
    """The files the globs match (``**`` included), each once, in a stable order."""
    seen: dict[Path, str] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, root_dir=cwd, recursive=True))
        files = [m for m in matches if (cwd / m).is_file()]
        if not files:
            raise InvalidInput(f"No files match {pattern!r} (from {cwd}).",
                               "Check the pattern; quote it so your shell does not expand it, "
                               "e.g. --batch 'data/*.csv'.")
        for match in files:
            seen.setdefault((cwd / match).resolve(), match)
    return list(seen.values())


def output_folders(files: list[str]) -> list[str]:
    """``<input-stem>`` per file; stems shared by files in different folders get the folder
    path too (``a__data``, ``b__data``), so no two items share a folder."""
    stems = [Path(f).stem for f in files]
    shared = {stem for stem, count in Counter(stems).items() if count > 1}
    return ["__".join((*Path(f).parent.parts, Path(f).stem)) if Path(f).stem in shared
            else Path(f).stem for f in files]


def follow_batch(client: ApiClient, batch_id: str, *, poll_seconds: float,
                 on_change: Callable[[], None] | None = None) -> dict:
    """Until every item has finished, one line updated in place, from the batch's live
    stream (or by polling where none opens); ``on_change`` runs as items finish, at most
    every ``poll_seconds`` (to fetch their outputs). Returns the batch as it ended."""
    started = time.monotonic()
    with Live(Text(""), console=err_console, refresh_per_second=4, transient=False) as live:
        def show(batch: dict) -> None:
            live.update(Text(progress_line(batch, time.monotonic() - started)))

        try:
            with OffTheStream(on_change) as in_background:
                _streamed(client, batch_id, show, Throttled(in_background, poll_seconds))
        except StreamUnavailable as exc:
            err_console.print(f"… Live stream unavailable: {exc} Following by polling "
                              f"every {poll_seconds:g} s instead.")
            _polled(client, batch_id, show, on_change, poll_seconds)
    if not err_console.is_terminal:
        err_console.line()  # a live display ends its line only on a terminal
    return client.get(f"/api/v1/batches/{batch_id}")


class Throttled:
    """Calls ``action`` at most once every ``seconds``; ``due`` says whether one is owed."""

    def __init__(self, action: Callable[[], None] | None, seconds: float) -> None:
        self._action, self._seconds = action, seconds
        self._last = -seconds
        self.due = False

    def __call__(self) -> None:
        self.due = True
        if self._action and time.monotonic() - self._last >= self._seconds:
            self._last, self.due = time.monotonic(), False
            self._action()


class OffTheStream:
    """Runs ``action`` on a thread of its own, one call at a time: a call made while one
    runs is owed, and those owed run as one once it ends. So the live stream's thread
    only reads: ``action`` (the outputs listing, an HTTP request with the client's
    retries) on it stopped the reading for as long as it took, and websockets' client
    stops taking frames off the socket once 16 wait, pongs among them: a listing slow for
    20 s then drops the stream by keepalive (read in websockets' source; the likely cause
    of a 1,000-item run's drops). Leaving the block waits for the last call and raises
    what it raised (unless the block raised first); Ctrl-C leaves at once."""

    def __init__(self, action: Callable[[], None] | None) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        self._owed = False
        self._failed: BaseException | None = None

    def __enter__(self) -> OffTheStream:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is not KeyboardInterrupt:
            self.wait(raising=exc_type is None)

    def __call__(self) -> None:
        if self._action is None:
            return
        self._raise_if_failed()
        with self._lock:
            if self._running is not None:
                self._owed = True
                return
            self._running = threading.Thread(target=self._run, daemon=True,
                                             name="rgrid-outputs-listing")
            self._running.start()

    def wait(self, *, raising: bool = True) -> None:
        """Until no call runs or is owed; then raises what a call raised."""
        with self._lock:
            running = self._running
        if running is not None:
            running.join()
        if raising:
            self._raise_if_failed()

    def _run(self) -> None:
        try:
            while True:
                self._action()
                with self._lock:
                    if not self._owed:
                        self._running = None
                        return
                    self._owed = False
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
            with self._lock:
                self._failed, self._running, self._owed = exc, None, False

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed


def _streamed(client: ApiClient, batch_id: str, show: Callable[[dict], None],
              on_change: Throttled) -> None:
    latest: dict = {}

    def while_idle() -> None:
        if latest:
            show(latest)  # the elapsed time and the ETA move on
        if on_change.due:
            on_change()

    for message in batch_messages(client, batch_id, idle_seconds=1.0, on_idle=while_idle):
        if isinstance(message, ProgressEvent):
            latest = message.model_dump(mode="json")
            show(latest)
        elif isinstance(message, ItemEvent) and message.status.is_finished:
            on_change()


def _polled(client: ApiClient, batch_id: str, show: Callable[[dict], None],
            on_change: Callable[[], None] | None, poll_seconds: float) -> None:
    while True:
        batch = client.get(f"/api/v1/batches/{batch_id}")
        show(batch)
        if on_change:
            on_change()
        if BatchStatus(batch["status"]).is_finished:  # every item ended, or cancelled
            return
        time.sleep(poll_seconds)


def progress_line(batch: dict, elapsed: float) -> str:
    counts, total = batch["counts"], batch["total"]
    failed = counts["failed"] + counts["timed_out"]
    done = counts["succeeded"] + failed + counts["cancelled"]
    parts = [f"{done}/{total} ({100 * done // total}%)", f"✓ {counts['succeeded']}",
             f"✗ {failed}", f"▶ {counts['running']} running", f"{counts['queued']} queued"]
    if counts["cancelled"]:
        parts.append(f"{counts['cancelled']} cancelled")
    if 0 < done < total:
        parts.append(f"ETA {_duration((total - done) * elapsed / done)}")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class BatchDownloader:
    """Fetches each item's outputs into its folder as soon as the item has finished, a
    few items at a time (each item's files in parallel too), while the batch runs on."""

    def __init__(self, client: ApiClient, batch_id: str, folders: list[str],
                 output_dir: Path, *, flat: bool) -> None:
        self._client, self._batch_id = client, batch_id
        self._folders, self._output_dir, self._flat = folders, output_dir, flat
        self._pool = ThreadPoolExecutor(PARALLEL_ITEMS)
        self._fetched: dict[str, Future[int]] = {}
        self._latest: datetime | None = None  # the latest finish seen

    def collect(self) -> None:
        """Starts placing the outputs of the items finished since the last call, all of
        them listed in one request, small ones inline. Asks for those finished
        ``COMMIT_SLACK`` before the latest seen too: an item's finish time is taken when
        its report arrives, and a report still being written can commit after a later
        one was read. ``finish`` catches any later still."""
        since = (self._latest - COMMIT_SLACK).isoformat() if self._latest else None
        finished = self._client.get(f"/api/v1/batches/{self._batch_id}/outputs",
                                    finished_since=since)["items"]
        for item in finished:
            if item["execution_id"] not in self._fetched:
                self._fetched[item["execution_id"]] = self._pool.submit(self._place, item)
                self._saw_finish(item["finished_at"])

    def finish(self, executions: list[dict]) -> int:
        """The items not fetched yet of ``executions`` (every item of the batch, as it
        ended); how many files came back."""
        for execution in executions:
            if execution["finished_at"] and execution["id"] not in self._fetched:
                self._fetched[execution["id"]] = self._pool.submit(self._fetch, execution)
                self._saw_finish(execution["finished_at"])
        count = sum(future.result() for future in self._fetched.values())
        self._pool.shutdown()
        if count:
            err_console.print(f"[green]✓[/] Downloaded {count} output{'s' * (count != 1)} "
                              f"to {self._output_dir}")
        return count

    def _saw_finish(self, at: str) -> None:
        finished_at = datetime.fromisoformat(at)
        self._latest = max(self._latest or finished_at, finished_at)

    def _folder(self, batch_index: int) -> Path:
        return self._output_dir if self._flat else self._output_dir / self._folders[batch_index]

    def _place(self, item: dict) -> int:
        _live, placed = place_outputs(item["outputs"], self._folder(item["batch_index"]))
        return len(placed)

    def _fetch(self, execution: dict) -> int:
        return len(download_outputs(self._client, execution["id"],
                                    self._folder(execution["batch_index"]), quiet=True))


def summarize(executions: list[dict], files: list[str], failures_file: Path) -> int:
    """Prints the outcome; the exit code: 0 when any item succeeded, else 1."""
    by_status = Counter(e["status"] for e in executions)
    failed = [e for e in executions if e["status"] not in ("succeeded",)]
    line = f"{by_status['succeeded']} succeeded, {len(failed)} failed"
    if by_status["cancelled"]:
        line += f" ({by_status['cancelled']} cancelled)"
    cached = sum(1 for e in executions if e.get("cached_from"))
    if cached:
        line += f"; {cached} served from the result cache (--no-cache to run them)"
    err_console.print(line)
    for execution in failed:
        reason = (execution.get("error") or f"exit code {execution['exit_code']}")
        reason = reason.strip().splitlines()[-1] if reason.strip() else execution["status"]
        err_console.print(f"  [red]✗[/] {files[execution['batch_index']]} "
                          f"({execution['id']}): {reason}")
    if failed:
        failures_file.write_text("".join(f"{e['id']}\n" for e in failed))
        err_console.print(f"Failed ids written to {failures_file}.")
    return 0 if by_status["succeeded"] else 1


def download_batch(client: ApiClient, batch_id: str, output_dir: Path, *, flat: bool,
                   poll_seconds: float) -> int:
    """``rgrid download bat_…``: what ``rgrid run --batch`` does after submitting, for a
    batch already running or ended (picking up after following failed): each item's
    outputs into the folder named after its input, as items finish, until the batch ends.
    Files already there with the same content are not fetched again. The count fetched."""
    executions = client.get(f"/api/v1/batches/{batch_id}/executions")["executions"]
    files = [""] * len(executions)
    for execution in executions:
        files[execution["batch_index"]] = execution["args"][0] if execution["args"] else ""
    downloader = BatchDownloader(client, batch_id, output_folders(files), output_dir, flat=flat)
    follow_batch(client, batch_id, poll_seconds=poll_seconds, on_change=downloader.collect)
    return downloader.finish(client.get(f"/api/v1/batches/{batch_id}/executions")["executions"])
