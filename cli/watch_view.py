"""``rgrid watch`` on a terminal: a live view of a batch from its stream.

Counts, percent and ETA; the items running now (which worker, for how long); the newest
failures with the last line of their error. Keys: ``l`` prints the log of the newest
failure above the view, ``q`` stops watching (the batch goes on).
"""

from __future__ import annotations

import io
import os
import queue
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.batch import progress_line
from cli.client import ApiClient
from cli.follow import print_logs
from cli.live import batch_messages
from cli.output import err_console
from rgrid_common.status import ExecutionStatus
from rgrid_common.stream import BatchEndEvent, ItemEvent, ProgressEvent

SHOWN_RUNNING = 8
SHOWN_FAILURES = 5
FAILED = {ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT}
KEYS_HELP = "l: log of the newest failure · q: stop watching (the batch goes on)"


class Detached(Exception):
    """``q`` was pressed."""


class BatchView:
    """What the stream has said of the batch so far, drawn as one renderable."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.progress: dict | None = None
        self.items: dict[str, ItemEvent] = {}
        self.started = time.monotonic()
        self.ended = False

    def take(self, message) -> None:
        if isinstance(message, ProgressEvent):
            self.progress = message.model_dump(mode="json")
        elif isinstance(message, ItemEvent):
            self.items[message.id] = message
        elif isinstance(message, BatchEndEvent):
            self.ended = True

    def running(self) -> list[ItemEvent]:
        return sorted((i for i in self.items.values() if i.status == ExecutionStatus.RUNNING),
                      key=lambda item: item.batch_index or 0)

    def failures(self) -> list[ItemEvent]:
        failed = [i for i in self.items.values() if i.status in FAILED]
        return sorted(failed, key=lambda item: item.finished_at or datetime.min.replace(
            tzinfo=timezone.utc), reverse=True)

    def render(self) -> Group:
        parts: list = [Text(f"Batch {self.batch_id}", style="bold")]
        parts.append(Text(progress_line(self.progress, time.monotonic() - self.started)
                          if self.progress else "waiting for the batch's first news…"))
        running = self.running()
        if running:
            parts.append(_items_table("Running", running[:SHOWN_RUNNING], _running_cells,
                                      more=len(running) - SHOWN_RUNNING))
        failures = self.failures()
        if failures:
            parts.append(_items_table("Newest failures", failures[:SHOWN_FAILURES],
                                      _failure_cells, more=len(failures) - SHOWN_FAILURES))
        parts.append(Text(KEYS_HELP, style="dim"))
        return Group(*parts)


def _items_table(title: str, items: list[ItemEvent], cells, *, more: int) -> Table:
    table = Table(title=title, title_justify="left", box=None, header_style="bold",
                  show_header=False, padding=(0, 1))
    for _ in range(3):
        table.add_column(no_wrap=True)
    for item in items:
        table.add_row(*cells(item))
    if more > 0:
        table.add_row("", f"… and {more} more", "")
    return table


def _running_cells(item: ItemEvent) -> tuple[str, str, str]:
    since = (f"{int((datetime.now(timezone.utc) - item.started_at).total_seconds())}s"
             if item.started_at else "")
    return f"#{item.batch_index}", item.id, f"{escape(item.worker or '')} {since}".strip()


def _failure_cells(item: ItemEvent) -> tuple[str, str, str]:
    lines = (item.error or item.status.value).strip().splitlines() or [item.status.value]
    return f"#{item.batch_index}", item.id, f"[red]{escape(lines[-1][:120])}[/]"


def watch_live(client: ApiClient, batch_id: str) -> None:
    """Until the batch has finished; ``Detached`` on ``q``."""
    view = BatchView(batch_id)
    with _keys() as keys, Live(view.render(), console=err_console, refresh_per_second=4,
                               transient=False) as live:
        def handle_keys() -> None:
            while not keys.empty():
                key = keys.get_nowait()
                if key == "q":
                    raise Detached()
                if key == "l":
                    _print_newest_failure_log(client, view, live)
            live.update(view.render())

        for message in batch_messages(client, batch_id, idle_seconds=0.2,
                                      on_idle=handle_keys):
            view.take(message)
            handle_keys()


def _print_newest_failure_log(client: ApiClient, view: BatchView, live: Live) -> None:
    failures = view.failures()
    if not failures:
        live.console.print("[dim]No failure yet.[/]")
        return
    newest = failures[0]
    buffer = io.StringIO()
    print_logs(client, newest.id, follow=False, poll_seconds=0, stdout=buffer, stderr=buffer)
    live.console.print(f"[bold]── log of #{newest.batch_index} {newest.id} "
                       f"({newest.status.value}) ──[/]")
    live.console.print(escape(buffer.getvalue().rstrip("\n") or "(no output)"))
    live.console.print("[bold]── end of log ──[/]")


@contextmanager
def _keys() -> Iterator[queue.Queue[str]]:
    """Keys pressed on the terminal, one at a time (no Enter needed), read in a thread."""
    keys: queue.Queue[str] = queue.Queue()
    if not sys.stdin.isatty():
        yield keys
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 16).decode(errors="ignore")
                if not data:
                    return
                for key in data.lower():
                    keys.put(key)

    tty.setcbreak(fd)
    reader = threading.Thread(target=read, name="watch-keys", daemon=True)
    reader.start()
    try:
        yield keys
    finally:
        stop.set()
        reader.join(timeout=1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
