"""`rgrid status BATCH` (GET /api/v1/batches/{id}) of a batch of 1,000 and of 10,000
finished items, the coordinator's plan (POST .../plan) of a batch of as many items, 8 of
them running, a follower's "what finished lately" (GET .../outputs?finished_since=, the
last 3 s: a few items) of that batch, and a shard's claim of the next item (POST
.../claim-next) in a batch of as many queued items, through a real API process, on a
database made for the run: what each costs as a batch grows (issue 18: nothing in the
path O(items) per request).

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
from rgrid_api.models import Batch, BatchItemCount, Execution, new_id
from rgrid_common.status import ExecutionStatus

RESULTS = Path(__file__).parent / "results" / "batch_status.json"
LATE_QUEUED = 200  # a batch near its end
RUNNING = 8  # a plan's batch: as many running as 4 workers of 2 slots take


def fill(database_url: str, account_id: str, items: int, *, queued: int = 0,
         running: int = 0) -> str:
    """A batch of ``items`` items, each run 4 s but the last ``queued`` and, before
    those, ``running``; its id. Its counts are kept as the lifecycle keeps them."""
    finished = queued == running == 0
    now = datetime.now(timezone.utc)
    batch_id = new_id("bat")
    ran = {"status": "succeeded", "started_at": now - timedelta(seconds=5),
           "finished_at": now - timedelta(seconds=1), "cost_micros": 2,
           "cost_state": "estimated", "compute_microseconds": 4_000_000}
    waiting = {**dict.fromkeys(ran), "status": "queued"}  # every row has every column
    busy = {**waiting, "status": "running", "started_at": now, "claimed_by": "bench-shard",
            "worker": "bench"}
    done = items - queued - running

    def state(n: int) -> dict:
        """Items ran one a second, the last finished a second ago (a shard asks which
        shards finished one lately: a few, not the whole batch)."""
        if n < done:
            finished_at = now - timedelta(seconds=done - n)
            return {**ran, "started_at": finished_at - timedelta(seconds=4),
                    "finished_at": finished_at, "claimed_by": "bench-shard", "worker": "bench"}
        return busy if n < done + running else waiting
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(Batch), [{
            "id": batch_id, "account_id": account_id, "script_name": "each.py",
            "total": items, "parallel": items, "status": "finished" if finished else "running",
            "created_at": now - timedelta(hours=3), "finished_at": now if finished else None}])
        connection.execute(insert(Execution), [{
            "id": new_id("ex"), "account_id": account_id, "batch_id": batch_id,
            "batch_index": n, "script_name": "each.py",
            "script_content": "print(1)\n", "runtime": "python3.11",
            "image": "rgrid/python:3.11", "args": [f"f{n}.csv"], "env": {}, "memory_mb": 512,
            "disk_mb": 1024, "cpus": 1.0, "timeout_seconds": 300,
            "created_at": now - timedelta(hours=3), "claimed_by": None, "worker": None,
            **state(n)}
            for n in range(items)])
        kept = {"succeeded": (done, done, 4.0 * done, ran["cost_micros"] * done, done, 0),
                "running": (running, 0, 0.0, 0, 0, 0), "queued": (queued, 0, 0.0, 0, 0, 0)}
        connection.execute(insert(BatchItemCount), [
            dict(zip(("batch_id", "status", "items", "ran_items", "ran_seconds",
                      "cost_micros", "priced_items", "final_items"),
                     (batch_id, status.value, *kept.get(status.value, (0, 0, 0.0, 0, 0, 0)))))
            for status in ExecutionStatus])
    engine.dispose()
    return batch_id


def time_status(http: httpx.Client, batch_id: str, requests: int) -> dict:
    return _timed(lambda: http.get(f"/api/v1/batches/{batch_id}"), requests)


def time_plan(http: httpx.Client, worker: dict[str, str], batch_id: str,
              requests: int) -> dict:
    return _timed(lambda: http.post(f"/api/v1/worker/batches/{batch_id}/plan",
                                    headers=worker), requests)


def time_new_outputs(http: httpx.Client, batch_id: str, requests: int) -> dict:
    """What the CLI asks each time round while it follows a batch: the outputs of the
    items finished since it last asked (in ``fill``, one a second)."""
    since = (datetime.now(timezone.utc) - timedelta(seconds=3)).isoformat()
    return _timed(lambda: http.get(f"/api/v1/batches/{batch_id}/outputs",
                                   params={"finished_since": since}), requests)


def _timed(request, requests: int) -> dict:
    request().raise_for_status()  # warm
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        request().raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 0.5), 1),
            "p99_ms": round(percentile(times, 0.99), 1)}


def time_claims(http: httpx.Client, worker: dict[str, str], batch_id: str,
                requests: int) -> dict:
    """A shard's claim of the next queued item, ``requests`` times, each by a shard of its
    own (a shard that holds an item is given that one again; none finish, and the batch's
    ``parallel`` is its size, so every claim finds one while any is queued)."""
    times = []
    for n in range(requests + 1):
        started = time.perf_counter()
        claimed = http.post(f"/api/v1/worker/batches/{batch_id}/claim-next", headers=worker,
                            json={"flow_run_id": f"bench-claim-{n}", "worker": "bench"})
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
                    half_done = fill(url, account["id"], size, queued=size // 2,
                                     running=RUNNING)
                    report[f"plan, {size} items"] = time_plan(http, worker, half_done,
                                                              options.requests)
                    report[f"outputs finished lately, {size} items"] = time_new_outputs(
                        http, half_done, options.requests)
                    for queued in (size, LATE_QUEUED):
                        report[f"claim-next, {size} items, {queued} queued"] = time_claims(
                            http, worker, fill(url, account["id"], size, queued=queued),
                            options.requests)
        finally:
            api.stop()
    for what in ("status, {} items", "plan, {} items", "outputs finished lately, {} items",
                 "claim-next, {} items, {} queued"):
        for queued in ("all", LATE_QUEUED):
            first, last = (report[what.format(size, size if queued == "all" else queued)]
                           ["p50_ms"] for size in (options.sizes[0], options.sizes[-1]))
            report[f"{what.format('n', queued)}: ratio"] = round(last / first, 2)
    save(RESULTS, report)


if __name__ == "__main__":
    main()
