"""The API's CPU for the one request every item of a batch makes: its shard's finish report
that claims the next item (``POST /api/v1/worker/executions/{id}/finish`` with
``then_claim``), against a baseline measured in the same run, item by item: a heartbeat
of the same item (the request's fixed cost: the HTTP stack, the worker's token, a session,
one UPDATE and its commit). In process (Starlette's TestClient, whose client side both
pay alike), on SQLite in a temporary folder, or on PostgreSQL with ``--url``. With
``PYTHONPATH`` at a worktree it measures that checkout's API.

    python benchmarks/finish_report.py [--reports 400] [--rounds 3] [--url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.main import create_app
from rgrid_api.models import Account, Batch
from rgrid_api.services import lifecycle, worker_tokens

WORKER = "bench-worker"
SHARD = {"flow_run_id": "bench-shard", "worker": WORKER}
WARM_UP = 20


def _batch(database_url: str, items: int) -> tuple[str, str]:
    """A running batch of ``items`` queued items, one at a time; and a worker token."""
    engine = create_engine(database_url)
    now = datetime.now(timezone.utc)
    with Session(engine) as session:
        account = Account(name="bench")
        session.add(account)
        session.flush()
        batch = Batch(account_id=account.id, script_name="a.py", total=items, parallel=1,
                      status="running")
        session.add(batch)
        session.flush()
        session.add_all(lifecycle.new_batch_counts(batch.id, items))
        session.add_all(lifecycle.new_queued(
            account_id=account.id, script_name="a.py", script_content="print(1)\n",
            runtime="python3.11", image="rgrid/python:3.11", args=[f"in/{index}.txt"],
            env={}, memory_mb=512, cpus=1, timeout_seconds=60, result_cache="off",
            batch_id=batch.id, batch_index=index) for index in range(items))
        session.commit()
        token = worker_tokens.issue(session, worker=WORKER, now=now)
        batch_id = batch.id
    engine.dispose()
    return batch_id, token


def _cpu_of(call) -> tuple[float, object]:
    started = time.process_time()
    result = call()
    return time.process_time() - started, result


def one_round(database_url: str, folder: Path, reports: int) -> dict[str, float]:
    settings = Settings(database_url=database_url, storage_dir=folder / "store",
                        storage_signing_key=secrets.token_hex(16),
                        prefect_api_url="http://127.0.0.1:9/api", public_url="http://testserver")
    with TestClient(create_app(settings)) as api:
        batch_id, token = _batch(database_url, reports + WARM_UP + 1)
        api.headers["Authorization"] = f"Bearer {token}"
        job = api.post(f"/api/v1/worker/batches/{batch_id}/claim-next", json=SHARD).json()
        heartbeats, finishes = [], []
        for index in range(reports + WARM_UP):
            base = f"/api/v1/worker/executions/{job['execution_id']}"
            beat, answer = _cpu_of(lambda: api.post(f"{base}/heartbeat",
                                                    json={"attempt": job["attempt"]}))
            assert answer.status_code == 204, answer.text
            report, answer = _cpu_of(lambda: api.post(f"{base}/finish", json={
                "status": "succeeded", "exit_code": 0, "attempt": job["attempt"],
                "then_claim": {**SHARD, "batch_id": batch_id}}))
            assert answer.status_code == 200, answer.text
            job = answer.json()
            if index >= WARM_UP:
                heartbeats.append(beat)
                finishes.append(report)
    # medians: the API's start (its flow-run starter imports Prefect on a thread of its
    # own) lands in the process's CPU during the first requests
    return {"report_ms": 1000 * statistics.median(finishes),
            "heartbeat_ms": 1000 * statistics.median(heartbeats)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a PostgreSQL database to use; what it writes stays")
    options = parser.parse_args()
    rounds = []
    for _ in range(options.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            url = options.url or f"sqlite:///{tmp}/rgrid.db"
            rounds.append(one_round(url, Path(tmp), options.reports))
        print(f"report that claims {rounds[-1]['report_ms']:.2f} ms of CPU, "
              f"heartbeat {rounds[-1]['heartbeat_ms']:.2f} ms", flush=True)
    report = statistics.median(r["report_ms"] for r in rounds)
    beat = statistics.median(r["heartbeat_ms"] for r in rounds)
    print(f"median of {options.rounds} rounds of {options.reports}: the report that claims "
          f"{report:.2f} ms of the API's CPU, a heartbeat {beat:.2f} ms; "
          f"ratio {report / beat:.2f}")


if __name__ == "__main__":
    main()
