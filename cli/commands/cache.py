"""``rgrid cache``: how often the result cache and the dependency layers saved a run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.output import console, err_console

cache_app = typer.Typer(help="The result cache and dependency layers.", no_args_is_help=True)


@cache_app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Hits and misses of your result cache and dependency layers."""
    answer = context.api().get("/api/v1/cache/stats")
    if as_json:
        console.print_json(data=answer)
        return
    result, layers = answer["result"], answer["dependency_layer"]
    table = Table("Cache", "Hits", "Misses", "Hit rate", "Notes")
    table.add_row("result", str(result["hits"]), str(result["misses"]), _rate(result),
                  f"{result['entries']} entries; {result['skipped']} runs with --no-cache")
    table.add_row("dependency layer", str(layers["hits"]), str(layers["misses"]),
                  _rate(layers), "per worker node")
    console.print(table)


@cache_app.command()
def clear() -> None:
    """Forget your cached results: every next run runs. Dependency layers stay (they
    hold only packages from the index and are shared per node)."""
    answer = context.api().delete("/api/v1/cache")
    err_console.print(f"[green]✓[/] Cleared {answer['entries']} cached "
                      f"result{'s' * (answer['entries'] != 1)}.")


def _rate(counts: dict) -> str:
    total = counts["hits"] + counts["misses"]
    return f"{counts['hits'] / total:.0%}" if total else "–"
