"""Cost from the CLI on the real stack: a run's estimate in `rgrid status`, and `rgrid cost`
per day and per tag, on the single-machine default's configured price."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.conftest import write_script
from tests.helpers import Rgrid

LOCAL_PER_HOUR = 6000  # the API's default: 0.0060 EUR an hour


def test_a_run_is_priced_and_rgrid_cost_reports_it(rgrid: Rgrid, tmp_path: Path, stack):
    tag = f"c{secrets.token_hex(4)}"
    write_script(tmp_path, "priced.py", f"# {tag}\nprint('priced')\n")

    ran = rgrid("run", "priced.py", "--no-cache", "--metadata", f"costrun={tag}")
    assert ran.exit_code == 0, ran.stderr

    [execution] = rgrid("list", "--metadata", f"costrun={tag}", "--json").json()
    record = rgrid("status", execution["id"], "--json").json()
    assert record["cost_state"] == "estimated"
    # the stack's local worker runs worker_limit at once: the price is per one of them
    assert record["cost_micros"] == _estimate(record, slots=stack.settings.worker_limit)
    shown = rgrid("status", execution["id"])
    assert "cost" in shown.stdout and "(estimated)" in shown.stdout and "€" in shown.stdout
    assert "configured (RGRID_LOCAL_PRICE_EUR_PER_HOUR=0.0060)" in record["cost_basis"]

    report = rgrid("cost", "--by", "tag:costrun", "--since", "1h", "--json").json()
    [line] = [row for row in report["rows"] if row["key"] == tag]
    assert (line["executions"], line["estimated_micros"], line["final_micros"]) == (
        1, record["cost_micros"], 0)
    today = rgrid("cost", "--since", "1d")
    assert today.exit_code == 0, today.stderr
    assert datetime.now().astimezone().strftime("%Y") in today.stdout
    assert "ESTIMATED" in today.stdout and "total" in today.stdout


def test_an_unknown_grouping_names_the_choices(rgrid: Rgrid):
    refused = rgrid("cost", "--by", "colour")
    assert refused.exit_code != 0
    assert "Cannot group costs by 'colour'" in refused.stderr
    assert "tag:KEY" in refused.stderr


def _estimate(record: dict, *, slots: int) -> int:
    ran = (datetime.fromisoformat(record["finished_at"])
           - datetime.fromisoformat(record["started_at"]))
    exact = (Decimal(ran // timedelta(microseconds=1)) * LOCAL_PER_HOUR
             / (3600 * 10**6 * slots))
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def test_a_spent_limit_refuses_new_work_and_the_admin_can_raise_it(
        rgrid: Rgrid, admin_key: str, tmp_path: Path):
    created = rgrid("accounts", "create", f"limited-{secrets.token_hex(3)}",
                    "--admin-key", admin_key)
    assert created.exit_code == 0, created.stderr
    limited = rgrid.with_env(RGRID_API_KEY=created.stdout.strip())
    account_id = created.stderr.split("(")[1].split(")")[0]
    write_script(tmp_path, "limited.py", "print('limited')\n")

    assert limited("cost", "limit", "set", "0").exit_code == 0
    refused = limited("run", "limited.py")
    shown = limited("cost", "limit", "show")

    assert refused.exit_code != 0
    assert "Spending limit reached: €0.0000 spent of €0.0000 this month" in refused.stderr
    assert "rgrid cost limit set" in refused.stderr
    assert limited("list", "--json").json() == [], "nothing was made"
    assert "Limit for" in shown.stdout and "spent €0.0000 (100 %)" in shown.stdout
    raised = rgrid("cost", "limit", "set", "5", "--account", account_id,
                   "--admin-key", admin_key)
    assert raised.exit_code == 0, raised.stderr
    assert "€5.0000" in raised.stdout
    ran = limited("run", "limited.py")
    assert ran.exit_code == 0, ran.stderr
    assert "limited" in ran.stdout
