"""``rgrid download`` and ``rgrid artifacts``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.batch import download_batch
from cli.output import console, err_console
from cli.outputs import download_outputs, list_artifacts, warn_about_expiry
from cli.transfers import human_size


def download(
    execution_id: Annotated[str, typer.Argument(help="Execution id, or batch id (bat_…).")],
    output_dir: Annotated[Path | None, typer.Option(
        help="Where outputs are written (default: here; a batch's: outputs).")] = None,
    flat: Annotated[bool, typer.Option(
        "--flat", help="A batch's outputs all in one folder, not one per input.")] = False,
) -> None:
    """Download an execution's outputs, or every item's of a batch, following it to its end
    (an existing file is never overwritten; one with the same content is not fetched)."""
    client = context.api()
    if execution_id.startswith("bat_"):
        download_batch(client, execution_id, output_dir or Path("outputs"), flat=flat,
                       poll_seconds=max(0.5, context.settings().poll_seconds))
        return
    placed = download_outputs(client, execution_id, output_dir or Path("."))
    if not placed:
        err_console.print(f"{execution_id} has no outputs to download.")


def artifacts(
    execution_id: Annotated[str, typer.Argument(help="Execution id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List an execution's input and output files."""
    rows = list_artifacts(context.api(), execution_id)
    if as_json:
        fields = ("id", "kind", "path", "size", "sha256", "content_type", "encoding", "created_at",
                  "expires_at", "expired")
        console.print_json(json.dumps([{k: row[k] for k in fields} for row in rows]))
        return
    warn_about_expiry(rows)
    table = Table(box=None, header_style="bold")
    for column in ("KIND", "PATH", "SIZE", "SHA256", "EXPIRES"):
        table.add_column(column, no_wrap=column != "PATH")
    for row in rows:
        expires = "expired" if row["expired"] else row["expires_at"][:10]
        table.add_row(row["kind"], row["path"], human_size(row["size"]), row["sha256"][:12],
                      expires)
    console.print(table)
