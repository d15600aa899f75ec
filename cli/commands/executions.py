"""``rgrid status``, ``rgrid logs``, ``rgrid list``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import context
from cli.commands.batches import BATCH_PREFIX, batch_status
from cli.follow import print_logs
from cli.output import console, execution_json, print_execution, print_execution_table
from rgrid_common.status import ExecutionStatus


def status(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show an execution's state, or a batch's (ids starting bat_)."""
    if execution_id.startswith(BATCH_PREFIX):
        batch_status(execution_id, as_json)
        return
    execution = context.api().get(f"/api/v1/executions/{execution_id}")
    if as_json:
        console.print_json(execution_json(execution))
    else:
        print_execution(execution)


def logs(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    stderr_only: Annotated[bool, typer.Option("--stderr-only", help="Only stderr.")] = False,
    stdout_only: Annotated[bool, typer.Option("--stdout-only", help="Only stdout.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until it finishes.")] = False,
) -> None:
    """Print an execution's output: stdout to stdout, stderr to stderr."""
    stream = "stderr" if stderr_only else "stdout" if stdout_only else None
    print_logs(context.api(), execution_id, follow=follow, stream=stream,
               poll_seconds=context.settings().poll_seconds)


def list_(
    status_filter: Annotated[ExecutionStatus | None,
                             typer.Option("--status", help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List your executions, newest first."""
    page = context.api().get("/api/v1/executions", limit=limit,
                             status=status_filter.value if status_filter else None)
    if as_json:
        console.print_json("[" + ",".join(execution_json(e) for e in page["executions"]) + "]")
    else:
        print_execution_table(page["executions"])
