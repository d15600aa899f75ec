"""Cost from the CLI on the real stack: a run's estimate in `rgrid status`, and `rgrid cost`
per day and per tag, on the single-machine default's configured price."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from tests.conftest import write_script
from tests.helpers import Rgrid, expected_estimate

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
    assert record["cost_micros"] == expected_estimate(record, per_hour=LOCAL_PER_HOUR,
                                                    slots=stack.settings.worker_limit)
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

