"""``rgrid run SCRIPT --batch GLOB``: the batch path of ``rgrid run``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cli import context
from cli.client import ApiClient
from cli.batch import BatchDownloader, expand_batch, follow_batch, output_folders, summarize
from cli.follow import DETACHED_EXIT_CODE
from cli.inputs import find_inputs, upload_inputs
from cli.output import err_console, say_how_to_pick_up
from rgrid_common.errors import RGridError
from rgrid_common.money import format_eur
from rgrid_common.submission import BatchCreate, ScriptSpec, built



@dataclass(frozen=True)
class BatchOptions:
    parallel: int
    fail_fast: bool
    flat: bool
    failures_file: Path
    remote_only: bool
    detach: bool
    force_upload: bool
    output_dir: Path


def run_batch(spec: ScriptSpec, patterns: list[str], extra_args: list[str],
              options: BatchOptions) -> int:
    client = context.api()
    files, request = batch_request(client, spec, patterns, extra_args, parallel=options.parallel,
                                   fail_fast=options.fail_fast, force_upload=options.force_upload)
    batch = client.submit("/api/v1/batches", request)
    err_console.print(f"Starting batch {batch['id']}: {len(files)} "
                      f"file{'s' * (len(files) != 1)}, {options.parallel} parallel · "
                      f"{estimate_text(batch.get('estimate'))}")
    return follow_batch_to_the_end(client, batch, files, options)


def estimate_text(estimate: dict | None) -> str:
    if not estimate or estimate.get("micros") is None:
        return "no history yet to estimate its cost from"
    return (f"estimated {format_eur(estimate['micros'])} "
            f"(≈{estimate['seconds_each']:.1f} s each)")


def batch_request(client: ApiClient, spec: ScriptSpec, patterns: list[str],
                  extra_args: list[str], *, parallel: int, fail_fast: bool,
                  force_upload: bool) -> tuple[list[str], BatchCreate]:
    """The files the globs match, their inputs uploaded, and the batch request for them."""
    files = expand_batch(patterns, Path.cwd())
    items = [find_inputs([file, *extra_args]) for file in files]
    upload_inputs(client, [item for inputs in items for item in inputs], force=force_upload)
    return files, built(
        BatchCreate, **dict(spec), parallel=parallel, fail_fast=fail_fast,
        items=[{"args": [file, *extra_args], "inputs": [i.as_request() for i in inputs]}
               for file, inputs in zip(files, items, strict=True)])


def follow_batch_to_the_end(client: ApiClient, batch: dict, files: list[str],
                            options: BatchOptions) -> int:
    """Progress, then each item's outputs in its folder and the summary; the exit code."""
    if options.detach:
        err_console.print(f"Follow it with `rgrid watch {batch['id']}`.")
        return 0
    downloader = None if options.remote_only else BatchDownloader(
        client, batch["id"], output_folders(files), options.output_dir, flat=options.flat)
    try:
        follow_batch(client, batch["id"], poll_seconds=max(0.5, context.settings().poll_seconds),
                     on_change=downloader.collect if downloader else None)
        executions = client.get(f"/api/v1/batches/{batch['id']}/executions")["executions"]
        if downloader:
            downloader.finish(executions)
    except KeyboardInterrupt:
        err_console.print(f"\nDetached; batch {batch['id']} goes on. "
                          f"Follow it with `rgrid watch {batch['id']}`; stop it with "
                          f"`rgrid cancel {batch['id']}`.")
        return DETACHED_EXIT_CODE
    except RGridError:
        say_how_to_pick_up(f"Batch {batch['id']} goes on.", f"`rgrid download {batch['id']} "
                           f"--output-dir {options.output_dir}{' --flat' * options.flat}`")
        raise
    if not downloader:
        err_console.print("Outputs kept remotely; fetch one item's with `rgrid download ID`.")
    return summarize(executions, files, options.failures_file)
