"""How the CLI shows things: Rich tables for people, one JSON object for programs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rgrid_common.errors import InvalidInput
from rgrid_common.money import format_eur

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JSON_FIELDS = ("id", "status", "exit_code", "runtime", "script_name", "args", "created_at",
               "started_at", "finished_at", "duration_seconds", "error", "worker",
               "flow_run_id", "memory_mb", "disk_mb", "cpus", "timeout_seconds", "batch_id",
               "batch_index", "retry_of", "attempt", "retried_errors", "cached_from",
               "dependency_cache", "notes", "metadata", "script_sha256", "image", "image_id",
               "attempts", "flow_run_url", "cost_micros", "cost_state", "cost_basis")
ARTIFACT_JSON_FIELDS = ("id", "path", "size", "sha256")
STATUS_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "red",
                "cancelled": "yellow", "running": "cyan", "queued": "blue"}


def execution_json(execution: dict, artifacts: list[dict] | None = None) -> str:
    """One execution for programs; with its ``artifacts``, their ids by kind too."""
    record = {key: execution.get(key) for key in JSON_FIELDS}
    if artifacts is not None:
        for kind, name in (("input", "inputs"), ("output", "outputs")):
            record[name] = [{key: artifact[key] for key in ARTIFACT_JSON_FIELDS}
                            for artifact in artifacts if artifact["kind"] == kind]
    return json.dumps(record)


_AGE = re.compile(r"^(\d+)([mhd])$")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def moment(text: str | None, option: str) -> str | None:
    """``--since``/``--until``: an ISO date or time (UTC unless it says), or an age
    (``90m``, ``2h``, ``7d``) back from now; as the API takes it."""
    if text is None:
        return None
    age = _AGE.match(text.strip())
    if age:
        when = datetime.now(timezone.utc) - timedelta(**{_AGE_UNITS[age[2]]: int(age[1])})
        return when.isoformat()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"Invalid {option} {text!r}.",
                           "Use a date (2026-11-28), a time (2026-11-28T14:00) or an age "
                           "(90m, 2h, 7d).") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).isoformat()


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def print_execution(execution: dict) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("id", execution["id"]),
        ("status", styled_status(execution["status"])),
        ("script", f"{execution['script_name']} {' '.join(execution['args'])}".strip()),
        ("runtime", execution["runtime"]),
        ("exit code", _or_dash(execution["exit_code"])),
        ("created", execution["created_at"]),
        ("started", _or_dash(execution["started_at"])),
        ("finished", _or_dash(execution["finished_at"])),
        ("duration", _or_dash(execution.get("duration_seconds"), "{} s")),
        ("worker", _or_dash(execution.get("worker"))),
        ("cost", _cost(execution)),
        *([("priced", escape(execution["cost_basis"]))] if execution.get("cost_basis") else []),
        ("limits", f"{execution['memory_mb']} MB, {execution['cpus']} CPU, "
                   f"{execution['timeout_seconds']} s, {execution.get('disk_mb', '-')} MB "
                   f"of /work"),
    ]
    if execution.get("metadata"):
        rows.append(("metadata", escape(" ".join(f"{key}={value}" for key, value
                                                  in execution["metadata"].items()))))
    if execution.get("cached_from"):
        rows.append(("cached", f"result of {execution['cached_from']} (not run again)"))
    if execution.get("dependency_cache"):
        rows.append(("dependencies", "layer reused" if execution["dependency_cache"] == "hit"
                     else "layer built"))
    if execution.get("attempt", 1) > 1:
        rows.append(("attempt", f"{execution['attempt']} (retried automatically: "
                                f"{'; '.join(execution['retried_errors'])})"))
    if execution.get("error"):
        rows.append(("error", f"[red]{escape(execution['error'])}[/]"))
    rows.extend(("note", f"[yellow]{escape(note)}[/]") for note in execution.get("notes") or [])
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)


def print_execution_table(executions: list[dict]) -> None:
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=19)
    for column in ("STATUS", "SCRIPT", "RUNTIME", "EXIT", "CREATED", "DURATION"):
        table.add_column(column, no_wrap=column != "SCRIPT")
    for ex in executions:
        table.add_row(ex["id"], styled_status(ex["status"]), ex["script_name"], ex["runtime"],
                      _or_dash(ex["exit_code"]), ex["created_at"][5:16].replace("T", " "),
                      _or_dash(ex.get("duration_seconds"), "{} s"))
    console.print(table)


def _cost(execution: dict) -> str:
    if execution.get("cost_micros") is None:
        return "-"
    if execution.get("cached_from"):
        return f"{format_eur(0)} (served from the cache)"
    return f"{format_eur(execution['cost_micros'])} ({execution['cost_state']})"


def _or_dash(value, template: str = "{}") -> str:
    return "-" if value is None else template.format(value)


PICK_UP = "Pick up with"  # the words before the commands, for people and for the tests


def say_how_to_pick_up(what: str, *commands: str) -> None:
    """After following failed (the API or storage stayed out of reach): the work is not
    lost, and these commands, in order, pick up where this stopped."""
    err_console.print(f"[yellow]![/] {what} {PICK_UP} {', then '.join(commands)}.",
                      highlight=False)
