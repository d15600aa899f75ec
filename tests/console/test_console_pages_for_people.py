"""Every console page for people, in Chromium: readable at 375 px wide (no page-wide
sideways scroll; wide tables scroll in their own box), reachable by keyboard (the skip
link first, then the navigation, each focus outlined); and the executions page of an
account with 10,000 executions, paged, its load time measured."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, insert

from rgrid_api.models import Execution, new_id
from tests.conftest import write_script
from tests.console.conftest import screenshot, sign_in
from tests.helpers import Rgrid

PAGES = ("/console/executions", "/console/batches", "/console/cost", "/console/schedules",
         "/console/nodes")
DOM_CONTENT_LOADED = ("performance.getEntriesByType('navigation')[0]"
                      ".domContentLoadedEventEnd")


@pytest.fixture
def phone(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 375, "height": 740},
                                  timezone_id="Asia/Tokyo")
    yield context.new_page()
    context.close()


def test_every_page_reads_at_375_px_wide_and_is_reachable_by_keyboard(
        phone: Page, stack, api_key: str, rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "small.py", f"print('{secrets.token_hex(4)}')\n")
    started = rgrid("run", "small.py", "--no-cache", "--detach", "--json")
    assert started.exit_code == 0, started.stderr
    url = stack.settings.api_url
    sign_in(phone, url, api_key)
    for path in (*PAGES, f"/console/executions/{started.json()['id']}"):
        phone.goto(url + path)
        wide = phone.evaluate("document.documentElement.scrollWidth")
        assert wide <= 375, f"{path} is {wide} px wide at 375"
        phone.keyboard.press("Tab")
        expect(phone.locator(":focus")).to_have_text("Skip to content")
        phone.keyboard.press("Tab")  # the brand, then the navigation
        phone.keyboard.press("Tab")
        focused = phone.locator(":focus")
        expect(focused).to_have_text("Executions")
        outline = focused.evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline != "none", f"the focus on {path} is not shown"
    phone.goto(url + "/console/executions")
    screenshot(phone, "executions-375px")


def test_the_executions_page_of_10000_executions_pages_and_its_load_is_measured(
        page: Page, stack, admin_key: str):
    made = httpx.post(f"{stack.settings.api_url}/api/v1/accounts",
                      json={"name": f"many-{secrets.token_hex(3)}"},
                      headers={"Authorization": f"Bearer {admin_key}"}).json()
    newest = _fill(stack.api_database_url, made["id"], 10_000)
    url = stack.settings.api_url
    sign_in(page, url, made["api_key"])
    loaded_ms = page.evaluate(DOM_CONTENT_LOADED)
    print(f"\nthe executions page of 10,000 executions: DOMContentLoaded {loaded_ms:.0f} ms")
    rows = page.locator("table.executions tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text(newest)
    seen = {rows.nth(n).locator("td").first.inner_text() for n in range(50)}
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(50)
    older = {rows.nth(n).locator("td").first.inner_text() for n in range(50)}
    assert not seen & older, "the next page repeats none of the first"
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("failed")
    assert loaded_ms > 0


def _fill(database_url: str, account_id: str, count: int) -> str:
    """``count`` finished executions of the account, written at once (as a busy account
    would have made them over days); the newest one's id."""
    now = datetime.now(timezone.utc)
    rows = [{"id": new_id("ex"), "account_id": account_id,
             "status": "failed" if n % 10 == 0 else "succeeded",
             "script_name": f"job{n % 20}.py", "script_content": "print(1)\n",
             "runtime": "python3.11", "image": "rgrid/python:3.11", "args": [f"in{n}.csv"],
             "env": {}, "memory_mb": 512, "disk_mb": 1024, "cpus": 1.0, "timeout_seconds": 300,
             "created_at": now - timedelta(seconds=count - n),
             "started_at": now - timedelta(seconds=count - n),
             "finished_at": now - timedelta(seconds=count - n - 1),
             "cost_micros": 3, "cost_state": "estimated", "tags": {"n": str(n)}}
            for n in range(count)]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(Execution), rows)
    engine.dispose()
    return rows[-1]["id"]
