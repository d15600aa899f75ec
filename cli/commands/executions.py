"""``rgrid status``, ``rgrid logs``, ``rgrid list``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import context
from cli.commands.batches import BATCH_PREFIX, batch_status
from cli.follow import print_logs
from cli.output import (console, err_console, execution_json, moment, print_execution,
                        print_execution_table)
from rgrid_common.metadata import parse_tags
from rgrid_common.status import ExecutionStatus

PAGE_SIZE = 1000  # the API's largest page


def status(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show an execution's state, or a batch's (ids starting bat_)."""
    if execution_id.startswith(BATCH_PREFIX):
        batch_status(execution_id, as_json)
        return
    client = context.api()
    execution = client.get(f"/api/v1/executions/{execution_id}")
    if as_json:
        artifacts = client.get(f"/api/v1/executions/{execution_id}/artifacts")["artifacts"]
        console.print_json(execution_json(execution, artifacts))
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
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", help="Only those tagged key=value; repeatable (all must match).")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch's items.")] = None,
    since: Annotated[str | None, typer.Option(
        help="Created at or after: an ISO date or time (UTC), or an age such as 2h or 7d.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created before; as --since.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every match, however many.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List your executions, newest first."""
    query = {"status": status_filter.value if status_filter else None, "batch_id": batch,
             "since": moment(since, "--since"), "until": moment(until, "--until"),
             "metadata": [f"{k}={v}" for k, v in parse_tags(metadata).items()] or None}
    found, more = _pages(context.api(), query, limit=None if every else limit)
    if as_json:
        console.print_json("[" + ",".join(execution_json(e) for e in found) + "]")
    else:
        print_execution_table(found)
    if more:
        err_console.print(f"… showing the newest {len(found)}; more with --limit or --all.")


def _pages(client, query: dict, *, limit: int | None) -> tuple[list[dict], bool]:
    """Executions page by page until ``limit`` (None: all); whether more remain."""
    found: list[dict] = []
    cursor = None
    while limit is None or len(found) < limit:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(found))
        page = client.get("/api/v1/executions", **query, limit=size, cursor=cursor)
        found += page["executions"]
        cursor = page.get("next_cursor")
        if cursor is None:
            return found, False
    return found, True
