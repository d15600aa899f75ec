"""``rgrid cost``: what your executions cost, per day, script, batch or tag."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import context
from cli.output import console, moment
from rgrid_common.money import format_eur, micros_from_eur

cost_app = typer.Typer(help="What your executions cost.", invoke_without_command=True)


@cost_app.callback()
def cost(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(
        help="Ended at or after: an ISO date or time (UTC), or an age such as 7d. "
             "Default: 30 days before --until.")] = None,
    until: Annotated[str | None, typer.Option(help="Ended before; as --since. Default: now.")
                     ] = None,
    by: Annotated[str, typer.Option(help="day (UTC), script, batch or tag:KEY.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (micro-euros).")] = False,
) -> None:
    """What your executions cost, per day (or --by script, batch, tag:KEY). An estimate
    until the billing hours they ran in close, then final: each node's hour is shared
    among what ran in it."""
    if ctx.invoked_subcommand is not None:
        return
    answer = context.api().get("/api/v1/costs", since=moment(since, "--since"),
                               until=moment(until, "--until"), by=by)
    if as_json:
        console.print_json(data=answer)
        return
    print_report(answer)


def print_report(answer: dict) -> None:
    table = Table(box=None, header_style="bold", show_footer=bool(answer["rows"]))
    total = answer["total"]
    table.add_column(answer["by"].upper(), footer="total")
    for name, key in (("EXECUTIONS", "executions"), ("COMPUTE", "compute_microseconds"),
                      ("ESTIMATED", "estimated_micros"), ("FINAL", "final_micros")):
        table.add_column(name, justify="right", footer=_cell(key, total[key]))
    table.add_column("COST", justify="right",
                     footer=format_eur(total["estimated_micros"] + total["final_micros"]))
    for row in answer["rows"]:
        table.add_row(row["key"], *(_cell(key, row[key]) for key in (
            "executions", "compute_microseconds", "estimated_micros", "final_micros")),
            format_eur(row["estimated_micros"] + row["final_micros"]))
    if not answer["rows"]:
        console.print(f"No executions ended between {answer['since'][:16]} and "
                      f"{answer['until'][:16]} (UTC).")
        return
    console.print(table)


def _cell(key: str, value: int) -> str:
    if key == "executions":
        return str(value)
    if key == "compute_microseconds":
        return f"{value / 1e6:,.1f} s"
    return format_eur(value)


OtherAccount = Annotated[str | None, typer.Option(
    "--account", help="Another account's id (needs the admin key).")]
AdminKey = Annotated[str | None, typer.Option(
    "--admin-key", help="Admin key (or RGRID_ADMIN_KEY), with --account.")]

limit_app = typer.Typer(help="Your monthly spending limit (calendar months, UTC).",
                        no_args_is_help=True)
cost_app.add_typer(limit_app, name="limit")


@limit_app.command("show")
def show_limit(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
               ) -> None:
    """This month's limit and what was spent of it."""
    _print_limit(context.api().get("/api/v1/costs/limit"), as_json)


@limit_app.command("set")
def set_limit(
    euros: Annotated[str, typer.Argument(help="Euros a month, e.g. 50.")],
    webhook: Annotated[str | None, typer.Option(
        help="A URL POSTed (JSON) once a month when 80 % is spent.")] = None,
    account: OtherAccount = None,
    admin_key: AdminKey = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set the limit: past 80 % each submission warns; at 100 % new work is refused (what
    runs finishes)."""
    body = {"limit_micros": micros_from_eur(euros), "webhook_url": webhook}
    _print_limit(_put_limit(body, account, admin_key), as_json)


@limit_app.command("remove")
def remove_limit(account: OtherAccount = None, admin_key: AdminKey = None) -> None:
    """No limit (and no webhook)."""
    _print_limit(_put_limit({"limit_micros": None, "webhook_url": None}, account, admin_key),
                 False)


def _put_limit(body: dict, account: str | None, admin_key: str | None) -> dict:
    if account is None:
        return context.api().put("/api/v1/costs/limit", body)
    admin = context.admin_api(admin_key, "Setting another account's limit")
    return admin.put(f"/api/v1/accounts/{account}/spending-limit", body)


def _print_limit(answer: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(data=answer)
        return
    spent = format_eur(answer["spent_micros"])
    if answer["limit_micros"] is None:
        console.print(f"No spending limit. Spent in {answer['month']} (UTC): {spent}.")
        return
    limit = answer["limit_micros"]
    percent = answer["spent_micros"] * 100 // limit if limit else 100
    console.print(f"Limit for {answer['month']} (UTC): {format_eur(limit)}; spent {spent} "
                  f"({percent} %). Warned past {answer['warn_at_percent']} %, new work "
                  f"refused at 100 %.")
    if answer.get("webhook_url"):
        console.print(f"Webhook: {answer['webhook_url']}")
