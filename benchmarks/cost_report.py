"""The cost report (`rgrid cost`, GET /api/v1/costs) over 100,000 executions of one
account on PostgreSQL: p50 and p99 per grouping, through a real API process. Needs the
PostgreSQL server `./scripts/dev up` (or `./scripts/test`) starts; the database is made
for the run and dropped after, after the VACUUM (ANALYZE) that autovacuum would run after
such a bulk of inserts.

    python benchmarks/cost_report.py [--rows 100000] [--requests 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text

from api_process import ApiProcess, database, percentile, save  # beside this script
from devstack.settings import DevSettings
from rgrid_api.models import Execution, new_id

RESULTS = Path(__file__).parent / "results" / "cost_report.json"
GROUPINGS = ("day", "script", "tag:team", "batch")


def fill(database_url: str, account_id: str, rows: int) -> None:
    """``rows`` finished, priced executions over the last 29 days (inside the default 30)."""
    now = datetime.now(timezone.utc)
    shuffle = random.Random(7)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for start in range(0, rows, 10_000):
            batch = []
            for n in range(start, min(rows, start + 10_000)):
                finished = now - timedelta(seconds=shuffle.randrange(29 * 86400))
                batch.append({
                    "id": new_id("ex"), "account_id": account_id, "status": "succeeded",
                    "script_name": f"script{n % 50}.py", "script_content": "print(1)\n",
                    "runtime": "python3.11", "image": "rgrid/python:3.11", "args": [],
                    "env": {}, "memory_mb": 512, "disk_mb": 1024, "cpus": 1.0,
                    "timeout_seconds": 300, "created_at": finished - timedelta(seconds=5),
                    "started_at": finished - timedelta(seconds=4), "finished_at": finished,
                    "finished_on": finished.date(),
                    "cost_micros": shuffle.randrange(1, 50), "compute_microseconds": 4_000_000,
                    "cost_state": "final" if n % 3 else "estimated",
                    "tags": {"team": f"t{n % 10}"}})
            connection.execute(insert(Execution), batch)
    engine.dispose()


def vacuum(database_url: str) -> None:
    """What autovacuum does after a bulk of inserts (PostgreSQL 13+): the visibility map
    it sets is what lets a scan answer from the index alone."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM (ANALYZE) executions"))
    engine.dispose()


def time_groupings(http: httpx.Client, options) -> dict:
    report = {}
    for by in GROUPINGS:
        times = []
        for n in range(options.requests + 1):
            began = time.perf_counter()
            answer = http.get("/api/v1/costs", params={"by": by})
            elapsed = time.perf_counter() - began
            assert answer.status_code == 200, answer.text
            if n:  # the first warms the connection and the cache
                times.append(elapsed)
        total = answer.json()["total"]
        assert total["executions"] == options.rows, total
        report[by] = {"p50_ms": round(statistics.median(times) * 1000, 1),
                      "p99_ms": round(percentile(times, 0.99) * 1000, 1),
                      "groups": len(answer.json()["rows"])}
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    options = parser.parse_args()
    report: dict = {"rows": options.rows, "database": "postgresql"}
    with tempfile.TemporaryDirectory() as tmp, \
            database("postgresql", Path(tmp)) as database_url:
        api = ApiProcess(Path(tmp), DevSettings().prefect_api_url,
                         "rgrid-execute/rgrid-execute", database_url=database_url)
        try:
            account = httpx.post(f"{api.url}/api/v1/accounts", json={"name": "costs"},
                                 headers=api.admin_headers).json()
            started = time.perf_counter()
            fill(database_url, account["id"], options.rows)
            report["fill_seconds"] = round(time.perf_counter() - started, 1)
            vacuum(database_url)
            headers = {"Authorization": f"Bearer {account['api_key']}"}
            with httpx.Client(base_url=api.url, headers=headers, timeout=60) as http:
                report.update(time_groupings(http, options))
        finally:
            api.stop()
    save(RESULTS, report)


if __name__ == "__main__":
    main()
