"""Following an execution: its output as it comes, then its final state."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cli.client import ApiClient
from cli.waiting import QueuedNotes
from rgrid_common.status import ExecutionStatus

DETACHED_EXIT_CODE = 130  # Ctrl+C stopped the following, not the work (as SIGINT's 128+2)


def print_logs(client: ApiClient, execution_id: str, *, follow: bool, poll_seconds: float,
               stream: str | None = None, stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> ExecutionStatus:
    """Write stdout chunks to stdout and stderr chunks to stderr; with ``follow``, until the
    execution has finished and every chunk is read. Returns the last status seen."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    after = -1
    waiting = QueuedNotes(client, execution_id, err)
    while True:
        page = client.get(f"/api/v1/executions/{execution_id}/logs", after=after,
                          stream=stream)
        for chunk in page["chunks"]:
            target = out if chunk["stream"] == "stdout" else err
            target.write(chunk["data"])
            target.flush()
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
