"""``rgrid schedule``: batches that recur on a Prefect deployment schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.commands.run import script_spec
from cli.commands.run_batch import batch_request
from cli.output import console, err_console
from rgrid_common.errors import InvalidInput
from rgrid_common.submission import ScheduleCreate, built

schedule_app = typer.Typer(help="Batches that run again and again (cron or interval).",
                           no_args_is_help=True)


@schedule_app.command(context_settings={"ignore_unknown_options": True})
def create(
    script: Annotated[Path, typer.Argument(help="The script to run.", show_default=False)],
    args: Annotated[list[str] | None, typer.Argument(help="Passed to the script.")] = None,
    batch: Annotated[list[str] | None, typer.Option(
        "--batch", help="Glob of input files (repeatable); matched and uploaded now.")] = None,
    cron: Annotated[str | None, typer.Option(
        help='When, as five-field cron in UTC, e.g. "0 * * * *" (hourly).')] = None,
    every: Annotated[int | None, typer.Option(
        min=10, help="Or every N seconds.")] = None,
    parallel: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    fail_fast: Annotated[bool, typer.Option("--fail-fast")] = False,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="K=V, repeatable.")] = None,
    runtime: Annotated[str | None, typer.Option()] = None,
    timeout: Annotated[int | None, typer.Option()] = None,
    memory: Annotated[str | None, typer.Option()] = None,
    cpus: Annotated[float | None, typer.Option()] = None,
    disk: Annotated[str | None, typer.Option(help="What /work may hold (default 1g).")] = None,
    requirements: Annotated[Path | None, typer.Option(
        help="pip requirements (default: requirements.txt beside the script).")] = None,
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", help="key=value tag every run it makes gets; repeatable.")] = None,
) -> None:
    """Run SCRIPT over the --batch files on a schedule; each firing is a normal batch
    (`rgrid watch`, `rgrid status`), and the schedule shows in the Prefect UI."""
    if (cron is None) == (every is None):
        raise InvalidInput("Say when: give exactly one of --cron and --every.",
                           'E.g. --cron "0 * * * *" for every hour, or --every 3600.')
    if not batch:
        raise InvalidInput("A schedule runs a batch: give --batch GLOB.",
                           "E.g. --batch 'in/*.csv'; the files are uploaded now and kept.")
    client = context.api()
    spec = script_spec(script, env=env, runtime=runtime, memory=memory, cpus=cpus, disk=disk,
                       timeout=timeout, requirements=requirements, metadata=metadata)
    files, request = batch_request(client, spec, batch, list(args or []), parallel=parallel,
                                   fail_fast=fail_fast, force_upload=False)
    schedule = client.post("/api/v1/schedules", built(
        ScheduleCreate, cron=cron, every_seconds=every, batch=request))
    err_console.print(f"[green]✓[/] Schedule {schedule['id']}: {script.name} over "
                      f"{len(files)} file{'s' * (len(files) != 1)}, {_when(schedule)}; "
                      f"next run {schedule['next_run_at'] or 'being planned'}")
    console.print(schedule["id"])


@schedule_app.command("list")
def list_() -> None:
    """Your schedules and when each runs next."""
    schedules = context.api().get("/api/v1/schedules")["schedules"]
    if not schedules:
        err_console.print("No schedules. Create one with `rgrid schedule create`.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "SCRIPT", "FILES", "WHEN", "NEXT RUN (UTC)"):
        table.add_column(column, no_wrap=True)
    for schedule in schedules:
        table.add_row(schedule["id"], schedule["script_name"], str(schedule["files"]),
                      _when(schedule), (schedule["next_run_at"] or "-")[:19].replace("T", " "))
    console.print(table)


@schedule_app.command()
def delete(schedule_id: Annotated[str, typer.Argument(help="Schedule id (sch_…).")]) -> None:
    """Stop a schedule; batches it already started are kept."""
    context.api().delete(f"/api/v1/schedules/{schedule_id}")
    err_console.print(f"[green]✓[/] Schedule {schedule_id} deleted")


def _when(schedule: dict) -> str:
    if schedule["cron"]:
        return f"cron {schedule['cron']!r} (UTC)"
    return f"every {schedule['every_seconds']} s"
