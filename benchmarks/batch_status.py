"""`rgrid status BATCH` (GET /api/v1/batches/{id}) of a batch of 1,000 and of 10,000
finished items, and a shard's claim of the next item (POST .../claim-next) in a batch of
as many queued items, through a real API process, on a database made for the run: what
each costs as a batch grows (issue 18: nothing in the path O(items) per request).

    python benchmarks/batch_status.py [--database postgresql|sqlite] [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert

from api_process import ApiProcess, database, percentile, save  # beside this script
from devstack.settings import DevSettings
from rgrid_api.core.db import upgrade_to_head
from rgrid_api.models import Batch, Execution, new_id

RESULTS = Path(__file__).parent / "results" / "batch_status.json"
LATE_QUEUED = 200  # a batch near its end: the claims' worst case before the index of 0016


def fill(database_url: str, account_id: str, items: int, *, queued: int = 0) -> str:
    """A batch of ``items`` items, each run 4 s but the last ``queued``; its id."""
    finished = queued == 0
    now = datetime.now(timezone.utc)
    batch_id = new_id("bat")
    ran = {"status": "succeeded", "started_at": now - timedelta(seconds=5),
           "finished_at": now - timedelta(seconds=1), "cost_micros": 2,
           "cost_state": "estimated", "compute_microseconds": 4_000_000}
    waiting = {**dict.fromkeys(ran), "status": "queued"}  # every row has every column
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(Batch), [{
            "id": batch_id, "account_id": account_id, "script_name": "each.py",
            "total": items, "parallel": items, "status": "finished" if finished else "running",
            "created_at": now - timedelta(hours=1), "finished_at": now if finished else None}])
        connection.execute(insert(Execution), [{
            "id": new_id("ex"), "account_id": account_id, "batch_id": batch_id,
            "batch_index": n, "script_name": "each.py",
            "script_content": "print(1)\n", "runtime": "python3.11",
            "image": "rgrid/python:3.11", "args": [f"f{n}.csv"], "env": {}, "memory_mb": 512,
            "disk_mb": 1024, "cpus": 1.0, "timeout_seconds": 300,
            "created_at": now - timedelta(hours=1),
            **(ran if n < items - queued else waiting)}
            for n in range(items)])
    engine.dispose()
    return batch_id


def time_status(http: httpx.Client, batch_id: str, requests: int) -> dict:
    http.get(f"/api/v1/batches/{batch_id}").raise_for_status()  # warm
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        http.get(f"/api/v1/batches/{batch_id}").raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 0.5), 1),
            "p99_ms": round(percentile(times, 0.99), 1)}


def time_claims(http: httpx.Client, worker: dict[str, str], batch_id: str,
                requests: int) -> dict:
    """A shard's claim of the next queued item, ``requests`` times (none finish, and the
    batch's ``parallel`` is its size, so every claim finds one while any is queued)."""
    times = []
    for n in range(requests + 1):
        started = time.perf_counter()
        claimed = http.post(f"/api/v1/worker/batches/{batch_id}/claim-next", headers=worker,
                            json={"flow_run_id": "bench-shard", "worker": "bench"})
        if n:  # the first warms the connection
            times.append((time.perf_counter() - started) * 1000)
        assert claimed.status_code == 200, claimed.text
    return {"p50_ms": round(percentile(times, 0.5), 1),
            "p99_ms": round(percentile(times, 0.99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--requests", type=int, default=30)
    options = parser.parse_args()
    report: dict = {"database": options.database}
    with tempfile.TemporaryDirectory() as tmp, database(options.database, Path(tmp)) as url:
        upgrade_to_head(url)
        api = ApiProcess(Path(tmp), DevSettings().prefect_api_url,
                         "rgrid-execute/rgrid-execute", database_url=url)
        try:
            account = httpx.post(f"{api.url}/api/v1/accounts", json={"name": "status"},
                                 headers=api.admin_headers).json()
            headers = {"Authorization": f"Bearer {account['api_key']}"}
            worker = {"Authorization": "Bearer " + httpx.post(
                f"{api.url}/api/v1/control/worker-tokens", json={"worker": "bench"},
                headers=api.control_headers).json()["token"]}
            with httpx.Client(base_url=api.url, headers=headers, timeout=60) as http:
                for size in options.sizes:
                    report[f"status, {size} items"] = time_status(
                        http, fill(url, account["id"], size), options.requests)
                    for queued in (size, LATE_QUEUED):
                        report[f"claim-next, {size} items, {queued} queued"] = time_claims(
                            http, worker, fill(url, account["id"], size, queued=queued),
                            options.requests)
        finally:
            api.stop()
    for what in ("status, {} items", "claim-next, {} items, {} queued"):
        for queued in ("all", LATE_QUEUED):
            first, last = (report[what.format(size, size if queued == "all" else queued)]
                           ["p50_ms"] for size in (options.sizes[0], options.sizes[-1]))
            report[f"{what.format('n', queued)}: ratio"] = round(last / first, 2)
    save(RESULTS, report)


if __name__ == "__main__":
    main()
