"""The console in Chromium, on the real stack: a user signs in with the key `./scripts/dev
up` stored, sees the run they made, watches a new one's log live, downloads its output
and signs out; what a user wrote stays inert text; another account's page is not found."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import write_script
from tests.console.conftest import screenshot, sign_in
from tests.helpers import Rgrid, wait_for

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# Prints a line every 0.5 s for up to two minutes: the test cancels it once it has seen
# lines arrive live, so the page never races the end of the script.
TICKER = ("import time\nfor i in range(240):\n    print(f'tick {i}', flush=True)\n"
          "    time.sleep(0.5)\n")


def test_a_user_signs_in_sees_their_run_downloads_its_output_and_signs_out(
        page: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    tag = secrets.token_hex(4)
    write_script(tmp_path, "make.py", f"# {tag}\nopen('out.txt', 'w').write('made {tag}\\n')\n"
                                      "print('made it')\n")
    ran = rgrid("run", "make.py", "--no-cache", "--remote-only", "--metadata", f"web={tag}")
    assert ran.exit_code == 0, ran.stderr
    [execution] = rgrid("list", "--metadata", f"web={tag}", "--json").json()
    url = stack.settings.api_url

    page.goto(url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Run a Python script")
    screenshot(page, "landing")
    sign_in(page, url, api_key)
    row = page.get_by_role("row").filter(has_text=execution["id"])
    expect(row).to_contain_text("make.py")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("€")
    screenshot(page, "executions")

    page.get_by_role("link", name=execution["id"]).click()
    expect(page.locator("#log")).to_contain_text("made it")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download out.txt").click()
    saved = Path(downloading.value.path()).read_bytes()
    assert saved == f"made {tag}\n".encode()
    screenshot(page, "execution")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    page.goto(url + "/console/executions")
    expect(page).to_have_url(url + "/console/sign-in")


def test_a_running_scripts_log_lines_appear_on_its_page_as_they_are_printed(
        page: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "ticker.py", f"# {secrets.token_hex(4)}\n{TICKER}")
    started = rgrid("run", "ticker.py", "--no-cache", "--detach", "--json")
    assert started.exit_code == 0, started.stderr
    execution_id = started.json()["id"]
    url = stack.settings.api_url
    sign_in(page, url, api_key)
    page.goto(f"{url}/console/executions/{execution_id}")
    shown_at_load = page.locator("#log").inner_text()
    expect(page.locator("#log")).to_contain_text("tick 3", timeout=120_000)
    later = wait_for(lambda: _newest_tick(page) > _newest_tick_in(shown_at_load) + 2, 60,
                     "lines printed after the page loaded to appear on it")
    assert later
    expect(page.locator("#status")).to_contain_text("running")
    assert page.locator("#log .stdout").count() > 0
    screenshot(page, "execution-live")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#status")).to_contain_text("cancel", timeout=60_000)


def _newest_tick(page: Page) -> int:
    return _newest_tick_in(page.locator("#log").inner_text())


def _newest_tick_in(text: str) -> int:
    ticks = [int(line.split()[1]) for line in text.splitlines() if line.startswith("tick ")]
    return max(ticks, default=-1)


def test_what_a_user_wrote_renders_as_inert_text(page: Page, stack, api_key: str,
                                                 rgrid: Rgrid, tmp_path: Path):
    marked_up = "<img src=x onerror=alert(3)>.py"  # a script's name cannot hold markup:
    write_script(tmp_path, marked_up, "print(1)\n")
    refused = rgrid("run", marked_up, "--no-cache")
    assert refused.exit_code == 2 and "Invalid script name" in refused.stderr
    name = "x.py"
    write_script(tmp_path, name, f"import sys\nprint(sys.argv[1])\n# {secrets.token_hex(4)}\n")
    ran = rgrid("run", name, HOSTILE, "--no-cache", "--metadata", f"note={HOSTILE}")
    assert ran.exit_code == 0, ran.stderr
    [execution] = [e for e in rgrid("list", "--json").json() if e["script_name"] == name][:1]
    url = stack.settings.api_url
    sign_in(page, url, api_key)
    for path in ("/console/executions", f"/console/executions/{execution['id']}"):
        page.goto(url + path)
        expect(page.locator("main")).to_contain_text(HOSTILE)
        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
    expect(page.locator("#log")).to_contain_text(HOSTILE)


def test_a_form_sent_without_its_csrf_token_is_refused(page: Page, stack, api_key: str,
                                                      rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "once.py", f"print('once')\n# {secrets.token_hex(4)}\n")
    ran = rgrid("run", "once.py", "--no-cache", "--detach", "--json")
    assert ran.exit_code == 0, ran.stderr
    execution_id = ran.json()["id"]
    url = stack.settings.api_url
    sign_in(page, url, api_key)
    page.goto(f"{url}/console/executions/{execution_id}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach(field => field.remove())")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Run again").click()
    assert sent.value.status == 403
    expect(page.locator("main")).to_contain_text("security token")
    runs = [e for e in rgrid("list", "--json").json() if e["script_name"] == "once.py"]
    assert [e["id"] for e in runs] == [execution_id], "nothing was run again"


def test_another_accounts_execution_is_a_not_found_page(page: Page, stack, admin_key: str,
                                                        rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "mine.py", f"print('mine')\n# {secrets.token_hex(4)}\n")
    ran = rgrid("run", "mine.py", "--no-cache", "--detach", "--json")
    assert ran.exit_code == 0, ran.stderr
    url = stack.settings.api_url
    other = httpx.post(f"{url}/api/v1/accounts", json={"name": f"o-{secrets.token_hex(3)}"},
                       headers={"Authorization": f"Bearer {admin_key}"})
    assert other.status_code == 201, other.text
    sign_in(page, url, other.json()["api_key"])
    answer = page.goto(f"{url}/console/executions/{ran.json()['id']}")
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_contain_text("not found")
    expect(page.locator("main")).not_to_contain_text("mine.py")


def test_the_cost_page_draws_spend_per_day_and_breaks_it_down(
        page: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    tag = secrets.token_hex(4)
    # 2 s on a slot of the test stack (2 slots at 0.006 €/h) cost 1.7 µ€: today's bar is
    # never empty, whatever else ran today
    write_script(tmp_path, "spend.py", f"# {tag}\nimport time\ntime.sleep(2)\nprint('spent')\n")
    ran = rgrid("run", "spend.py", "--no-cache", "--metadata", f"costpage={tag}")
    assert ran.exit_code == 0, ran.stderr
    url = stack.settings.api_url
    sign_in(page, url, api_key)
    page.get_by_role("link", name="Cost").click()
    chart = page.get_by_role("img", name=re.compile("Spend per day"))
    expect(chart).to_be_visible()
    bars = chart.locator("rect.bar")
    assert bars.count() == 31
    heights = [float(bars.nth(n).get_attribute("height")) for n in range(bars.count())]
    assert heights[-1] > 0  # today's spend is drawn
    expect(page.locator("main")).to_contain_text("This month")
    expect(page.get_by_role("table").nth(1)).to_contain_text("spend.py")
    page.get_by_label("Tag key").fill("costpage")
    page.get_by_role("button", name="Break down").click()
    expect(page.get_by_role("heading", name="By tag costpage")).to_be_visible()
    expect(page.locator("main")).to_contain_text(tag)
    screenshot(page, "cost")


# An item named bad… fails at once; any other prints a line every 0.5 s for two minutes,
# so the batch is still running while the test watches it, until the test cancels it.
EACH = ("import sys, time\nname = sys.argv[1]\nif 'bad' in name:\n"
        "    sys.exit(f'cannot read {name}')\n" + TICKER)


def test_a_batchs_page_follows_its_progress_live_and_retries_its_failures(
        page: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "each.py", f"# {secrets.token_hex(4)}\n{EACH}")
    (tmp_path / "bad.txt").write_text("bad\n")
    (tmp_path / "good.txt").write_text("good\n")
    started = rgrid("run", "each.py", "--batch", "*.txt", "--parallel", "2", "--no-cache",
                    "--detach")
    assert started.exit_code == 0, started.stderr
    batch_id = re.search(r"bat_[0-9a-f]{16}", started.stderr).group(0)
    wait_for(lambda: _counts(rgrid, batch_id) == {"failed": 1, "running": 1}, 180,
             "one item to fail and the other to run")
    url = stack.settings.api_url
    sign_in(page, url, api_key)
    page.get_by_role("link", name="Batches").click()
    row = page.get_by_role("row").filter(has_text=batch_id)
    expect(row).to_contain_text("1 of 2 ended, 1 failed")
    row.get_by_role("link", name=batch_id).click()
    expect(page.locator("#batch-ended")).to_have_text("1 of 2 ended")
    expect(page.locator("#failures")).to_contain_text("cannot read /work/bad.txt")
    expect(page.locator("#live-state")).to_contain_text("Live")
    page.evaluate("window.loadedOnce = true")
    screenshot(page, "batch")

    cancelled = rgrid("cancel", batch_id)  # elsewhere: the page hears of it by its stream
    assert cancelled.exit_code == 0, cancelled.stderr
    expect(page.locator("#batch-ended")).to_have_text("2 of 2 ended", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("cancelled")
    expect(page.locator("#failures tbody tr")).to_have_count(2)
    assert page.evaluate("window.loadedOnce === true"), "the page changed without a reload"

    page.reload()
    page.get_by_role("button", name="Retry failed items").click()
    expect(page.get_by_role("heading", level=1)).not_to_contain_text(batch_id)
    expect(page.locator(".fields").get_by_role("link", name=batch_id)).to_be_visible()
    rgrid("cancel", page.url.rsplit("/", 1)[-1])  # the retried ticker need not run


def _counts(rgrid: Rgrid, batch_id: str) -> dict[str, int]:
    counts = rgrid("status", batch_id, "--json").json()["counts"]
    return {status: n for status, n in counts.items() if n}


def test_the_nodes_page_shows_the_autoscalers_work_and_schedules_can_be_deleted(
        page: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    url = stack.settings.api_url
    name = f"rgrid-node-{secrets.token_hex(3)}"
    report = {"nodes": [{"name": name, "pool": "rgrid-docker", "server_id": 41,
                         "server_status": "running", "state": "ready",
                         "created_at": "2026-11-28T09:00:00+00:00", "server_type": "cx22",
                         "price_per_hour_micros": 7_000, "slots": 2, "running": 1}],
              "events": [{"at": "2026-11-28T09:00:00+00:00", "kind": "provision",
                          "node": name, "message": "4 executions queued, no free slot"}]}
    answer = httpx.post(f"{url}/api/v1/control/autoscaler/report", json=report,
                        headers={"Authorization": f"Bearer {stack.secret('control_token')}"})
    assert answer.status_code == 204, answer.text
    write_script(tmp_path, "nightly.py", "print('night')\n")
    (tmp_path / "day.csv").write_text("a,b\n")
    made = rgrid("schedule", "create", "nightly.py", "--batch", "day.csv", "--cron",
                 "0 3 * * *")
    assert made.exit_code == 0, made.stderr
    schedule_id = made.stdout.strip()

    sign_in(page, url, api_key)
    page.get_by_role("link", name="Nodes").click()
    row = page.locator("table.nodes").get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("ready")
    expect(row).to_contain_text("cx22")
    expect(page.locator("table.events")).to_contain_text("4 executions queued, no free slot")
    screenshot(page, "nodes")

    page.get_by_role("link", name="Schedules").click()
    row = page.get_by_role("row").filter(has_text=schedule_id)
    expect(row).to_contain_text("0 3 * * *")
    expect(row).to_contain_text("nightly.py")
    screenshot(page, "schedules")
    row.get_by_role("button", name=f"Delete {schedule_id}").click()
    expect(page.get_by_role("row").filter(has_text=schedule_id)).to_have_count(0)
    assert schedule_id not in rgrid("schedule", "list").stdout
