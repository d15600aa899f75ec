"""``rgrid nodes``: the worker nodes the autoscaler runs, and why it did what it did."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.output import console
from rgrid_common.money import format_eur

SHOWN_EVENTS = 10


def nodes(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          events: Annotated[int, typer.Option(
              min=0, max=50, help="How many of the autoscaler's latest events.")
          ] = SHOWN_EVENTS) -> None:
    """Worker nodes (live, and deleted in the last day) and the autoscaler's decisions."""
    answer = context.api().get("/api/v1/nodes")
    if as_json:
        console.print_json(data=answer)
        return
    if not answer["nodes"]:
        console.print("No nodes: work runs on the single-machine worker, or the "
                      "autoscaler has not made any.")
    else:
        console.print(_node_table(answer["nodes"]))
    for event in answer["events"][:events]:
        console.print(f"{event['at'][:19].replace('T', ' ')}  {event['kind']:<9} "
                      f"{event['message']}")


def _node_table(rows: list[dict]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("NODE", "STATE", "SERVER", "PRICE/H", "RUNNING", "CREATED", "WORKER SEEN",
                   "NOTE"):
        table.add_column(column, no_wrap=column != "NOTE")
    for node in rows:
        price = node.get("price_per_hour_micros")
        table.add_row(node["name"], node["state"], f"{node['server_id']} "
                      f"({node['server_status']})",
                      "-" if price is None else format_eur(price), str(node["running"]),
                      node["created_at"][:19].replace("T", " "),
                      (node["worker_seen_at"] or "-")[:19].replace("T", " "),
                      node["delete_reason"] or "")
    return table
