"""``rgrid status bat_…`` and ``rgrid watch BATCH_ID``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cli import context
from cli.batch import follow_batch, progress_line
from cli.follow import DETACHED_EXIT_CODE
from cli.output import console, err_console
from cli.watch_view import Detached, watch_live
from rgrid_common.money import format_eur

BATCH_PREFIX = "bat_"
BATCH_JSON_FIELDS = ("id", "status", "script_name", "total", "parallel", "fail_fast", "counts",
                     "mean_duration_seconds", "created_at", "finished_at", "flow_run_id",
                     "retry_of", "schedule_id", "cost_micros", "cost_final", "estimate_micros")


def batch_status(batch_id: str, as_json: bool) -> None:
    batch = context.api().get(f"/api/v1/batches/{batch_id}")
    if as_json:
        console.print_json(json.dumps({key: batch.get(key) for key in BATCH_JSON_FIELDS}))
        return
    console.print(f"{batch['id']}  {batch['script_name']}  {batch['status']}")
    console.print(progress_line(batch, elapsed=0))
    console.print(f"cost: {format_eur(batch.get('cost_micros') or 0)} "
                  f"({'final' if batch.get('cost_final') else 'estimated'})")


def watch(
    batch_id: Annotated[str, typer.Argument(help="Batch id (bat_…).")],
) -> None:
    """Watch a batch live until it finishes: counts, ETA, running items, newest failures
    (on a terminal: l shows the newest failure's log, q stops watching; the batch goes on)."""
    client = context.api()
    try:
        if err_console.is_terminal and sys.stdin.isatty():
            watch_live(client, batch_id)
            batch = client.get(f"/api/v1/batches/{batch_id}")
        else:
            batch = follow_batch(client, batch_id,
                                 poll_seconds=max(0.5, context.settings().poll_seconds))
    except Detached:
        err_console.print(f"Stopped watching; {batch_id} goes on (`rgrid watch {batch_id}` "
                          "to watch again).")
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        err_console.print(f"\nStopped watching; {batch_id} goes on.")
        raise typer.Exit(DETACHED_EXIT_CODE) from None
    counts = batch["counts"]
    failed = counts["failed"] + counts["timed_out"]
    line = f"{counts['succeeded']} succeeded, {failed + counts['cancelled']} failed"
    if counts["cancelled"]:
        line += f" ({counts['cancelled']} cancelled)"
    if batch["status"] == "cancelled":
        line = f"Batch cancelled: {line}"
    err_console.print(line)
