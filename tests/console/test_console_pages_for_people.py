"""Every console page for people, in Chromium: readable at 375 px wide (no page-wide
sideways scroll; wide tables scroll in their own box), reachable by keyboard (the skip
link first, then the navigation, each focus outlined); and the executions page of an
account with 10,000 executions, paged, its load time measured."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, insert

from rgrid_api.models import Batch, Execution, new_id
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


def test_the_executions_page_of_10000_executions_pages_filters_and_is_measured(
        page: Page, stack, admin_key: str):
    made = httpx.post(f"{stack.settings.api_url}/api/v1/accounts",
                      json={"name": f"many-{secrets.token_hex(3)}"},
                      headers={"Authorization": f"Bearer {admin_key}"}).json()
    newest, newest_day, batch_id = _fill(stack.api_database_url, made["id"], 10_000)
    url = stack.settings.api_url
    sign_in(page, url, made["api_key"])
    loaded_ms = page.evaluate(DOM_CONTENT_LOADED)
    print(f"\nthe executions page of 10,000 executions: DOMContentLoaded {loaded_ms:.0f} ms")
    assert loaded_ms > 0
    rows = page.locator("table.executions tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text(newest)
    first_page = _ids(rows)
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(50)
    assert not first_page & _ids(rows), "the next page repeats none of the first"

    def filtered(fields: dict[str, str]) -> None:
        page.get_by_role("link", name="Clear").click()
        for label, value in fields.items():
            field = page.get_by_label(label)
            if label == "Status":
                field.select_option(value)
            else:
                field.fill(value)
        page.get_by_role("button", name="Filter").click()

    filtered({"Status": "failed"})
    expect(rows).to_have_count(50)
    assert all("failed" in text for text in rows.all_inner_texts())
    filtered({"Tag": "n=4242"})
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("n=4242")
    filtered({"Batch": batch_id})
    expect(rows).to_have_count(50)  # its 100 items, a page of them
    expect(page.get_by_role("link", name="Older")).to_be_visible()
    day = newest_day.isoformat()
    filtered({"From (UTC)": day, "To (UTC)": day, "Tag": "n=9999"})
    expect(rows).to_have_count(1)  # the day named by To is in the range
    filtered({"To (UTC)": (newest_day - timedelta(days=1)).isoformat(), "Tag": "n=9999"})
    expect(page.locator("main")).to_contain_text("No executions match")


def _ids(rows) -> set[str]:
    return {text.split()[0] for text in rows.all_inner_texts()}


def _fill(database_url: str, account_id: str, count: int) -> tuple[str, date, str]:
    """``count`` finished executions of the account over the last ``count`` seconds
    (every 10th failed, every 100th an item of one batch), written at once; the newest
    one's id and UTC day, and the batch's id."""
    now = datetime.now(timezone.utc)
    batch_id = new_id("bat")
    rows = [{"id": new_id("ex"), "account_id": account_id,
             "status": "failed" if n % 10 == 0 else "succeeded",
             "script_name": f"job{n % 20}.py", "script_content": "print(1)\n",
             "runtime": "python3.11", "image": "rgrid/python:3.11", "args": [f"in{n}.csv"],
             "env": {}, "memory_mb": 512, "disk_mb": 1024, "cpus": 1.0, "timeout_seconds": 300,
             "created_at": now - timedelta(seconds=count - n),
             "started_at": now - timedelta(seconds=count - n),
             "finished_at": now - timedelta(seconds=count - n - 1),
             "batch_id": batch_id if n % 100 == 0 else None,
             "batch_index": n // 100 if n % 100 == 0 else None,
             "cost_micros": 3, "cost_state": "estimated", "tags": {"n": str(n)}}
            for n in range(count)]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(Batch), [{
            "id": batch_id, "account_id": account_id, "script_name": "job0.py",
            "total": count // 100, "parallel": 10, "status": "finished",
            "created_at": now - timedelta(seconds=count), "finished_at": now}])
        connection.execute(insert(Execution), rows)
    engine.dispose()
    return rows[-1]["id"], rows[-1]["created_at"].date(), batch_id
