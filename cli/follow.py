"""Following an execution: its output as it comes, then its final state.

Followers read the execution's live stream (``cli.live``); where none can be opened they
say so once and poll the log by cursor instead, from where the stream had got to.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from cli.client import ApiClient
from cli.live import StreamUnavailable, execution_messages
from cli.waiting import ASK_AFTER_SECONDS, QueuedNotes
from rgrid_common.status import ExecutionStatus
from rgrid_common.stream import EndEvent, LogEvent, StatusEvent

DETACHED_EXIT_CODE = 130  # Ctrl+C stopped the following, not the work (as SIGINT's 128+2)


@dataclass
class LogPrinter:
    """Writes stdout chunks to stdout and stderr chunks to stderr (or only one stream)."""

    out: TextIO
    err: TextIO
    only: str | None = None
    next_seq: int = 0

    def write(self, seq: int, stream: str, data: str) -> None:
        self.next_seq = seq + 1
        if self.only is not None and stream != self.only:
            return
        target = self.out if stream == "stdout" else self.err
        target.write(data)
        target.flush()


def print_logs(client: ApiClient, execution_id: str, *, follow: bool, poll_seconds: float,
               stream: str | None = None, stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> ExecutionStatus:
    """Every chunk so far; with ``follow``, until the execution has finished and every
    chunk is written. Returns the last status seen."""
    printer = LogPrinter(stdout or sys.stdout, stderr or sys.stderr, only=stream)
    waiting = QueuedNotes(client, execution_id, printer.err)
    if follow:
        try:
            return _streamed(client, execution_id, printer, waiting)
        except StreamUnavailable as exc:
            waiting.done()
            printer.err.write(f"… Live stream unavailable: {exc} Following by polling "
                              f"every {poll_seconds:g} s instead.\n")
    return _polled(client, execution_id, printer, waiting, follow=follow,
                   poll_seconds=poll_seconds)


def _streamed(client: ApiClient, execution_id: str, printer: LogPrinter,
              waiting: QueuedNotes) -> ExecutionStatus:
    status = ExecutionStatus.QUEUED

    def while_idle() -> None:
        if status == ExecutionStatus.QUEUED:
            waiting.update()

    for message in execution_messages(client, execution_id, from_seq=printer.next_seq,
                                      idle_seconds=ASK_AFTER_SECONDS, on_idle=while_idle):
        if isinstance(message, LogEvent):
            printer.write(message.seq, message.stream, message.data)
        elif isinstance(message, StatusEvent | EndEvent):
            status = message.status
            if status != ExecutionStatus.QUEUED:
                waiting.done()
    return status


def _polled(client: ApiClient, execution_id: str, printer: LogPrinter, waiting: QueuedNotes,
            *, follow: bool, poll_seconds: float) -> ExecutionStatus:
    after = printer.next_seq - 1
    while True:
        page = client.get(f"/api/v1/executions/{execution_id}/logs", after=after,
                          stream=printer.only)
        for chunk in page["chunks"]:
            printer.write(chunk["seq"], chunk["stream"], chunk["data"])
        after = page["next_after"]
        status = ExecutionStatus(page["status"])
        if status != ExecutionStatus.QUEUED:
            waiting.done()
        if page["chunks"]:
            continue  # drain everything already there before waiting
        if not follow or status.is_finished:
            return status
        if status == ExecutionStatus.QUEUED:
            waiting.update()
        time.sleep(poll_seconds)


def wait_until_finished(client: ApiClient, execution_id: str, *, poll_seconds: float) -> dict:
    while True:
        execution = client.get(f"/api/v1/executions/{execution_id}")
        if ExecutionStatus(execution["status"]).is_finished:
            return execution
        time.sleep(poll_seconds)
