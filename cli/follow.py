"""Following an execution: its output as it comes, then its final state."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cli.client import ApiClient
from rgrid_common.status import ExecutionStatus

QUEUED_HINT_AFTER_SECONDS = 10.0
DETACHED_EXIT_CODE = 130  # Ctrl+C stopped the following, not the work (as SIGINT's 128+2)


def print_logs(client: ApiClient, execution_id: str, *, follow: bool, poll_seconds: float,
               stream: str | None = None, stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> ExecutionStatus:
    """Write stdout chunks to stdout and stderr chunks to stderr; with ``follow``, until the
    execution has finished and every chunk is read. Returns the last status seen."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    after = -1
    started = time.monotonic()
    hinted = False
    while True:
        page = client.get(f"/api/v1/executions/{execution_id}/logs", after=after,
                          stream=stream)
        for chunk in page["chunks"]:
            target = out if chunk["stream"] == "stdout" else err
            target.write(chunk["data"])
            target.flush()
        after = page["next_after"]
        status = ExecutionStatus(page["status"])
        if page["chunks"]:
            continue  # drain everything already there before waiting
        if not follow or status.is_finished:
            return status
        if (status == ExecutionStatus.QUEUED and not hinted
                and time.monotonic() - started > QUEUED_HINT_AFTER_SECONDS):
            err.write(f"… {execution_id} is still queued: waiting for a free worker. "
                      "On a single machine, check `./scripts/dev status`.\n")
            err.flush()
            hinted = True
        time.sleep(poll_seconds)


def wait_until_finished(client: ApiClient, execution_id: str, *, poll_seconds: float) -> dict:
    while True:
        execution = client.get(f"/api/v1/executions/{execution_id}")
        if ExecutionStatus(execution["status"]).is_finished:
            return execution
        time.sleep(poll_seconds)
