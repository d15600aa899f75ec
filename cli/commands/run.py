"""``rgrid run SCRIPT [ARGS]...``"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli import context
from cli.batch import BATCH_FAILURES_FILE
from cli.client import ApiClient
from cli.commands.run_batch import BatchOptions, run_batch
from cli.follow import DETACHED_EXIT_CODE, print_logs, wait_until_finished
from cli.inputs import find_inputs, upload_inputs
from cli.outputs import download_outputs, list_artifacts
from cli.output import console, err_console, execution_json, say_how_to_pick_up
from cli.requirements import script_requirements
from rgrid_common.errors import InvalidInput, RGridError
from rgrid_common.limits import parse_disk, parse_env, parse_memory
from rgrid_common.metadata import parse_tags
from rgrid_common.status import ExecutionStatus
from rgrid_common.submission import ExecutionCreate, ScriptSpec, built

TIMED_OUT_EXIT_CODE = 124  # as timeout(1)


def script_spec(script: Path, *, env: list[str] | None, runtime: str | None,
                memory: str | None, cpus: float | None, timeout: int | None,
                requirements: Path | None = None, use_cache: bool = True,
                disk: str | None = None, metadata: list[str] | None = None) -> ScriptSpec:
    """What every execution of SCRIPT shares, from the command line's options; checked
    here as the API will check it, before anything is uploaded."""
    content = _read_script(script)
    checked = script_requirements(script, requirements, runtime)
    return built(ScriptSpec, script_name=script.name, script_content=content,
                 env=parse_env(env or []), runtime=runtime,
                 memory_mb=parse_memory(memory) if memory else None, cpus=cpus,
                 disk_mb=parse_disk(disk) if disk else None,
                 timeout_seconds=timeout, requirements=checked.text if checked else None,
                 use_cache=use_cache, metadata=parse_tags(metadata))


def run(
    script: Annotated[Path, typer.Argument(help="The script to run.", show_default=False)],
    args: Annotated[list[str] | None, typer.Argument(help="Passed to the script.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="K=V, repeatable.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Runtime name; see `rgrid runtimes`.")] = None,
    timeout: Annotated[int | None, typer.Option(help="Seconds before it is stopped.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory limit, e.g. 512m or 2g.")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPU limit, e.g. 1 or 0.5.")] = None,
    disk: Annotated[str | None, typer.Option(
        help="What /work may hold, e.g. 500m or 5g (default 1g).")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Submit and return.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        help="Where outputs go (default: here; ./outputs for a batch).")] = None,
    remote_only: Annotated[bool, typer.Option(
        "--remote-only", help="Keep outputs remotely; fetch later with `rgrid download`.")] = False,
    no_cache_inputs: Annotated[bool, typer.Option(
        "--no-cache-inputs", help="Upload inputs even if the store holds them.")] = False,
    batch: Annotated[list[str] | None, typer.Option(
        "--batch", help="Glob of input files, one execution each (repeatable; ** works). "
                        "Each file is the script's first argument.")] = None,
    parallel: Annotated[int, typer.Option(
        min=1, max=1000, help="Batch items running at once, across the pool.")] = 10,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Cancel the rest of the batch on its first failure.")] = False,
    flat: Annotated[bool, typer.Option(
        "--flat", help="Batch outputs all in one folder, not one per input.")] = False,
    failures_file: Annotated[Path, typer.Option(
        help="Where a batch's failed ids are written.")] = Path(BATCH_FAILURES_FILE),
    requirements: Annotated[Path | None, typer.Option(
        help="pip requirements to install (default: requirements.txt beside the script).")
    ] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Run even if an identical run's result is cached.")] = False,
    metadata: Annotated[list[str] | None, typer.Option(
        "--metadata", help="key=value tag to find it by (`rgrid list --metadata`); "
                           "repeatable; a batch's items all get it.")] = None,
) -> None:
    """Run SCRIPT in a sandboxed container and stream its output.

    Arguments naming local files are uploaded and given to the script as /work/NAME;
    files the script writes to its working folder come back here. With --batch, one
    execution per matched file, spread over the pool."""
    started = time.monotonic()
    spec = script_spec(script, env=env, runtime=runtime, memory=memory, cpus=cpus, disk=disk,
                       timeout=timeout, requirements=requirements, use_cache=not no_cache,
                       metadata=metadata)
    if batch:
        options = BatchOptions(parallel=parallel, fail_fast=fail_fast, flat=flat,
                               failures_file=failures_file, remote_only=remote_only,
                               detach=detach, force_upload=no_cache_inputs,
                               output_dir=output_dir or Path("outputs"))
        raise typer.Exit(run_batch(spec, batch, list(args or []), options))
    script_args = list(args or [])
    inputs = find_inputs(script_args)
    client = context.api()
    upload_inputs(client, inputs, force=no_cache_inputs)
    request = built(ExecutionCreate, **dict(spec), args=script_args,
                    inputs=[item.as_request() for item in inputs])
    execution = client.submit("/api/v1/executions", request)
    if execution.get("cached_from") and not as_json:
        err_console.print(f"[green]✓[/] Cached result from {execution['cached_from']} "
                          f"({time.monotonic() - started:.1f}s) — --no-cache to run again")
    raise typer.Exit(follow_execution(client, execution, detach=detach, as_json=as_json,
                                      output_dir=output_dir or Path("."),
                                      remote_only=remote_only))


def follow_execution(client: ApiClient, execution: dict, *, detach: bool, as_json: bool,
                     output_dir: Path, remote_only: bool) -> int:
    """Output as it comes, then the files back; the exit code to leave with."""
    execution_id = execution["id"]
    cli_settings = context.settings()
    if detach:
        _print_submitted(execution, as_json)
        return 0
    try:
        if not as_json:
            print_logs(client, execution_id, follow=True, poll_seconds=cli_settings.poll_seconds)
        final = wait_until_finished(client, execution_id, poll_seconds=cli_settings.poll_seconds)
    except KeyboardInterrupt:
        err_console.print(f"\nDetached; {execution_id} goes on. Follow it with "
                          f"`rgrid logs {execution_id} --follow`; stop it with "
                          f"`rgrid cancel {execution_id}`.")
        return DETACHED_EXIT_CODE
    except RGridError:
        say_how_to_pick_up(f"{execution_id} goes on.", f"`rgrid logs {execution_id} --follow`",
                           f"`rgrid download {execution_id} --output-dir {output_dir}`")
        raise
    try:
        _bring_outputs_back(client, execution_id, output_dir, remote_only)
    except RGridError:
        say_how_to_pick_up(f"{execution_id} has finished.",
                           f"`rgrid download {execution_id} --output-dir {output_dir}`")
        raise
    if as_json:
        console.print_json(execution_json(final))
    else:
        _print_outcome(final)
    return exit_code_of(final)


def _bring_outputs_back(client, execution_id: str, output_dir: Path, remote_only: bool) -> None:
    if not remote_only:
        download_outputs(client, execution_id, output_dir)
    elif list_artifacts(client, execution_id, kind="output"):
        err_console.print(f"Outputs kept remotely. Fetch them with "
                          f"`rgrid download {execution_id}`.")


def _read_script(script: Path) -> str:
    if not script.exists():
        raise InvalidInput(f"File not found: {script}.", "Check the path and try again.")
    if script.is_dir():
        raise InvalidInput(f"{script} is a directory, not a script.",
                           "Pass the script file, e.g. rgrid run analyze.py.")
    try:
        return script.read_text()
    except PermissionError as exc:
        raise InvalidInput(f"Cannot read {script}: permission denied.",
                           "Check the file's permissions.") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{script} is not a UTF-8 text file.",
                           "Pass a script's source file.") from exc


def _print_submitted(execution: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(execution_json(execution))
    else:
        console.print(f"Submitted {execution['id']} ({execution['status']}). "
                      f"Follow it with `rgrid logs {execution['id']} --follow`.")


def _print_outcome(execution: dict) -> None:
    status = execution["status"]
    if status == ExecutionStatus.SUCCEEDED.value:
        return
    error = (execution.get("error") or "").strip().splitlines()
    reason = error[-1] if error else f"exit code {execution['exit_code']}"
    err_console.print(f"[red]✗ {execution['id']} {status}:[/] {reason}")


def exit_code_of(execution: dict) -> int:
    status = ExecutionStatus(execution["status"])
    if status == ExecutionStatus.SUCCEEDED:
        return 0
    if status == ExecutionStatus.TIMED_OUT:
        return TIMED_OUT_EXIT_CODE
    return execution.get("exit_code") or 1
