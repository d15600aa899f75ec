"""The CPU one claim of a batch's next item costs the API, against a baseline of the same
work, measured in the same run: the claim (its UPDATE, the batch's counts, the commit),
and the commit of an UPDATE of the batch row alone. On SQLite, or on PostgreSQL with
``--url``. Every shard asks once per item, so this is per item of every batch.

    python benchmarks/claim_next.py [--claims 600] [--url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timezone

from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Base, Batch
from rgrid_api.services import lifecycle

WARM_UP = 100


def _batch(session: Session, items: int) -> str:
    session.add(Account(id="acc_bench", name="bench"))
    batch = Batch(account_id="acc_bench", script_name="a.py", total=items, parallel=items,
                  status="running")
    session.add(batch)
    session.flush()
    session.add_all(lifecycle.new_batch_counts(batch.id, items))
    session.add_all(lifecycle.new_queued(
        account_id="acc_bench", script_name="a.py", script_content="", runtime="python3.11",
        image="rgrid/python:3.11", args=[], env={}, memory_mb=512, cpus=1,
        timeout_seconds=60, result_cache="off", batch_id=batch.id, batch_index=index)
        for index in range(items))
    session.commit()
    return batch.id


def _cpu_ms(action) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=600)
    parser.add_argument("--url", help="a database to make the tables in (empty); "
                                      "default: a new SQLite file")
    options = parser.parse_args()
    url = options.url or f"sqlite:///{tempfile.mkdtemp()}/claims.db"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    claims, touches = [], []
    with Session(engine) as session:
        batch_id = _batch(session, options.claims + WARM_UP)
        for index in range(options.claims + WARM_UP):
            def claim() -> None:
                assert lifecycle.claim_next_in_batch(
                    session, batch_id=batch_id, parallel=10**6, flow_run_id=f"fr{index}",
                    worker="bench", now=datetime.now(timezone.utc))
                session.commit()

            def touch() -> None:
                session.execute(update(Batch).where(Batch.id == batch_id)
                                .values(parallel=10**6))
                session.commit()
            claims.append(_cpu_ms(claim))
            touches.append(_cpu_ms(touch))
    claim, baseline = (statistics.median(figures[WARM_UP:]) for figures in (claims, touches))
    print(f"{engine.dialect.name}, {options.claims} claims: claim {claim:.2f} ms of CPU "
          f"(median), a one-row UPDATE and commit {baseline:.2f} ms; ratio {claim / baseline:.1f}")


if __name__ == "__main__":
    main()
