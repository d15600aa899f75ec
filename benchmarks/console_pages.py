"""Time to DOMContentLoaded of the console's pages in Debian's Chromium (Playwright, at
/usr/bin/chromium): the executions page of an account with 10,000 executions, and the page
of an execution whose log is 10 MB, each beside the same page of an account with one
execution and a 1 KB log, loaded in the same run by the same browser. Target (issue 17):
under 2 s each.

The rows are written straight into a database made for the run (as `cost_report.py`
does), the log as the worker's log shipper cuts it: chunks of up to 64 K characters.
PostgreSQL needs the server `./scripts/dev up` (or `./scripts/test`) starts.

    python benchmarks/console_pages.py [--database sqlite|postgresql] [--executions 10000]
                                       [--log-mb 10] [--loads 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import create_engine, insert, select

from api_process import ApiProcess, database, percentile, save  # beside this script
from cost_report import fill  # beside this script
from devstack.settings import DevSettings
from flows.log_shipper import MAX_CHUNK_CHARS
from rgrid_api.core.db import upgrade_to_head
from rgrid_api.models import Execution, LogChunk

RESULTS = Path(__file__).parent / "results" / "console_pages.json"
CHROMIUM = "/usr/bin/chromium"
LINE = "step {n:>8}: read 4096 rows, wrote 4096 rows, 0 warnings, checksum 9f2c41d07a\n"
DOM_CONTENT_LOADED = ("performance.getEntriesByType('navigation')[0]"
                      ".domContentLoadedEventEnd")
HTML_BYTES = "performance.getEntriesByType('navigation')[0].decodedBodySize"


def write_log(database_url: str, account_id: str, size: int) -> str:
    """The newest execution of the account gets ``size`` characters of log, in chunks as
    the log shipper sends them (every 40th on stderr); its id."""
    lines, total, n = [], 0, 0
    while total < size:
        line = LINE.format(n=n)
        lines.append(line)
        total, n = total + len(line), n + 1
    body = "".join(lines)[:size]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        execution_id = connection.execute(
            select(Execution.id).where(Execution.account_id == account_id)
            .order_by(Execution.created_at.desc()).limit(1)).scalar_one()
        chunks = [body[start:start + MAX_CHUNK_CHARS]
                  for start in range(0, len(body), MAX_CHUNK_CHARS)]
        connection.execute(insert(LogChunk), [
            {"execution_id": execution_id, "seq": seq, "data": data,
             "stream": "stderr" if seq % 40 == 39 else "stdout"}
            for seq, data in enumerate(chunks)])
    engine.dispose()
    return execution_id


def account(api: ApiProcess, database_url: str, executions: int, log_size: int) -> dict:
    made = httpx.post(f"{api.url}/api/v1/accounts", json={"name": f"c-{executions}"},
                      headers=api.admin_headers).json()
    fill(database_url, made["id"], executions)
    return {"key": made["api_key"],
            "execution": write_log(database_url, made["id"], log_size)}


def time_page(browser: Browser, api_url: str, key: str, path: str, loads: int) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{api_url}/console/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/console/executions")
    page.goto(api_url + path, wait_until="domcontentloaded")  # warm: first use of the page
    times = []
    for _ in range(loads):
        page.goto(api_url + path, wait_until="domcontentloaded")
        times.append(page.evaluate(DOM_CONTENT_LOADED))
    html_bytes = page.evaluate(HTML_BYTES)
    context.close()
    return {"p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(percentile(times, 0.99), 1), "html_kb": round(html_bytes / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--log-mb", type=float, default=10)
    parser.add_argument("--loads", type=int, default=10)
    options = parser.parse_args()
    report: dict = {"database": options.database, "executions": options.executions,
                    "log_mb": options.log_mb, "loads": options.loads}
    with tempfile.TemporaryDirectory() as tmp, database(options.database, Path(tmp)) as url:
        upgrade_to_head(url)
        api = ApiProcess(Path(tmp), DevSettings().prefect_api_url,
                         "rgrid-execute/rgrid-execute", database_url=url)
        try:
            small = account(api, url, 1, 1024)
            large = account(api, url, options.executions, int(options.log_mb * 1024 * 1024))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=["--no-sandbox", "--disable-gpu"])
                for name, path in (("executions page", "/console/executions"),
                                   ("execution page", "/console/executions/{execution}")):
                    baseline = time_page(browser, api.url, small["key"],
                                         path.format(**small), options.loads)
                    measured = time_page(browser, api.url, large["key"],
                                         path.format(**large), options.loads)
                    report[name] = {"baseline": baseline, "measured": measured,
                                    "ratio": round(measured["p50_ms"] / baseline["p50_ms"], 2)}
                browser.close()
        finally:
            api.stop()
    save(RESULTS, report)


if __name__ == "__main__":
    main()
