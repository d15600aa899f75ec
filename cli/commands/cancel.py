"""``rgrid cancel ID``: an execution or a whole batch stops. Ctrl+C while following only
detaches; cancelling is always this command."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import context
from cli.output import console

BATCH_PREFIX = "bat_"


def cancel(
    id_: Annotated[str, typer.Argument(metavar="ID",
                                       help="An execution (ex_…) or a batch (bat_…).")],
) -> None:
    """Cancel an execution or a batch: what is queued never starts, what runs is stopped
    within seconds; outputs already kept stay listed."""
    client = context.api()
    if id_.startswith(BATCH_PREFIX):
        outcome = client.post(f"/api/v1/batches/{id_}/cancel", {})
        count = outcome["cancelled"]
        if count:
            console.print(f"Cancelled batch {id_}: {count} item{'s' * (count != 1)} "
                          "stopped or kept from starting.")
        else:
            console.print(f"Batch {id_} had already {outcome['status']}; nothing to cancel.")
        return
    outcome = client.post(f"/api/v1/executions/{id_}/cancel", {})
    if outcome["cancelled"]:
        console.print(f"Cancelled {id_}.")
    else:
        console.print(f"{id_} had already finished ({outcome['status']}); nothing to cancel.")
