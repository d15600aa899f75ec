"""``rgrid retry ID`` and ``rgrid retry --batch BATCH_ID``: new executions of the same
script, args and inputs, each linked to the one it retries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import context
from cli.batch import BATCH_FAILURES_FILE
from cli.commands.run import follow_execution
from cli.commands.run_batch import BatchOptions, follow_batch_to_the_end
from cli.output import err_console
from rgrid_common.errors import InvalidInput


def retry(
    execution_id: Annotated[str | None, typer.Argument(help="Execution to run again.")] = None,
    batch: Annotated[str | None, typer.Option(
        "--batch", help="Run again the items of this batch that did not succeed.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Submit and return.")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        help="Where outputs go (default: here; ./outputs for a batch).")] = None,
    remote_only: Annotated[bool, typer.Option(
        "--remote-only", help="Keep outputs remotely.")] = False,
) -> None:
    """Run an execution again, or a batch's failed items, with new ids."""
    if (execution_id is None) == (batch is None):
        raise InvalidInput("Give an execution id or --batch BATCH_ID (one of them).",
                           "e.g. rgrid retry ex_… or rgrid retry --batch bat_…")
    client = context.api()
    if execution_id:
        execution = client.post(f"/api/v1/executions/{execution_id}/retry", {})
        err_console.print(f"Retrying {execution_id} as {execution['id']}")
        raise typer.Exit(follow_execution(client, execution, detach=detach, as_json=False,
                                          output_dir=output_dir or Path("."),
                                          remote_only=remote_only))
    retried = client.post("/api/v1/executions/retry", {"batch_id": batch})
    items = client.get(f"/api/v1/batches/{retried['id']}/executions")["executions"]
    files = [item["args"][0] if item["args"] else item["id"] for item in items]
    err_console.print(f"Retrying {len(items)} failed item{'s' * (len(items) != 1)} of "
                      f"{batch} as batch {retried['id']}, {retried['parallel']} parallel")
    options = BatchOptions(parallel=retried["parallel"], fail_fast=retried["fail_fast"],
                           flat=False, failures_file=Path(BATCH_FAILURES_FILE),
                           remote_only=remote_only, detach=detach, force_upload=False,
                           output_dir=output_dir or Path("outputs"))
    raise typer.Exit(follow_batch_to_the_end(client, retried, files, options))
