"""``rgrid login``, ``rgrid accounts create``, ``rgrid runtimes``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.client import ApiClient
from cli.config import write_config
from cli.output import console, err_console

accounts_app = typer.Typer(help="Manage accounts (needs the admin key).", no_args_is_help=True)


def login(
    api_key: Annotated[str | None, typer.Option("--api-key", help="sk_... key; prompted "
                                                "for when not given.")] = None,
    api_url: Annotated[str | None, typer.Option(help="RGrid API URL.")] = None,
) -> None:
    """Store an API key (checked against the API first)."""
    settings = context.settings()
    if api_url:
        settings = settings.model_copy(update={"api_url": api_url})
    key = api_key or typer.prompt("API key", hide_input=True)
    account = ApiClient(settings, key=key).get("/api/v1/accounts/me")
    write_config(settings.config, api_url=settings.api_url, api_key=key)
    console.print(f"✓ Logged in as {account['name']!r} at {settings.api_url} "
                  f"(saved to {settings.config}).")


@accounts_app.command("create")
def create_account(
    name: Annotated[str, typer.Argument(help="Account name.")],
    admin_key: Annotated[str | None, typer.Option(
        "--admin-key", help="Admin key (or RGRID_ADMIN_KEY).")] = None,
) -> None:
    """Create an account; its API key is printed alone on stdout, once."""
    account = context.admin_api(admin_key, "Creating an account").post("/api/v1/accounts",
                                                                       {"name": name})
    err_console.print(f"✓ Account {account['name']!r} created ({account['id']}). Its API key "
                      "is shown once: store it now.")
    print(account["api_key"])


def runtimes() -> None:
    """List the runtimes scripts can run in."""
    rows = context.api(require_key=False).get("/api/v1/runtimes")
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "IMAGE", "EXTENSIONS", "DEFAULT"):
        table.add_column(column)
    for runtime in rows:
        table.add_row(runtime["name"], runtime["image"], " ".join(runtime["extensions"]),
                      "✓" if runtime["default"] else "")
    console.print(table)
