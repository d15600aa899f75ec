"""``rgrid keys list|create|revoke``: the account's own API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli import context
from cli.output import console, err_console
from rgrid_common.submission import ApiKeyCreate, built

keys_app = typer.Typer(help="Your account's API keys.", no_args_is_help=True)


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
              ) -> None:
    """Every key of the account, live or not (never the keys themselves)."""
    rows = context.api().get("/api/v1/keys")
    if as_json:
        console.print_json(data=rows)
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "STATE"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row["id"], escape(row["name"]), row["prefix"] + "…",
                      _day(row["created_at"]), _day(row["expires_at"]) or "never",
                      "revoked" if row["revoked_at"] else "live")
    console.print(table)


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for (letters, digits, _.-).")],
    expires_in_days: Annotated[int | None, typer.Option(
        "--expires-in-days", help="Expire the key after this many days (default: never).")
    ] = None,
) -> None:
    """Create a key; it is printed alone on stdout, once. Store it now."""
    body = built(ApiKeyCreate, name=name, expires_in_days=expires_in_days)
    created = context.api().post("/api/v1/keys", body)
    expiry = (f", expires {_day(created['expires_at'])}" if created["expires_at"]
              else ", never expires")
    err_console.print(f"✓ Key {escape(created['name'])!r} created ({created['id']}{expiry}). "
                      "It is shown once: store it now.")
    print(created["api_key"])


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (`rgrid keys list`).")]
               ) -> None:
    """Revoke a key: it stops working at once."""
    revoked = context.api().delete(f"/api/v1/keys/{key_id}")
    console.print(f"✓ Key {escape(revoked['name'])!r} ({revoked['prefix']}…) revoked.")


def _day(moment: str | None) -> str:
    return moment[:16].replace("T", " ") if moment else ""
