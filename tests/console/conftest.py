"""A real headless Chromium (Debian's, at /usr/bin/chromium; never a downloaded browser),
driven by Playwright, against the stack's real API; screenshots go to
tests/console/screenshots (the README shows them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies), that fails the test on any dialog."""
    context = browser.new_context(timezone_id="Europe/Berlin", accept_downloads=True)
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield opened
    context.close()
    assert not dialogs, f"a page opened a dialog: {dialogs}"


@pytest.fixture(scope="session")
def api_key(stack) -> str:
    return json.loads(stack.settings.cli_config.read_text())["api_key"]


def sign_in(page: Page, api_url: str, key: str) -> None:
    page.goto(f"{api_url}/console/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/console/executions")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
