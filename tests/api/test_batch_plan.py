"""The coordinator's plan reads a batch's status after its counts: a cancel that lands
between the two reads is seen as a cancel (the flow run ends Cancelled), never as a
batch that finished by itself. On a database of its own, no stack needed."""

from __future__ import annotations

from datetime import datetime, timezone

from rgrid_api.core.config import Settings
from rgrid_api.core.db import get_sessionmaker, upgrade_to_head
from rgrid_api.models import Account, Batch, Execution
from rgrid_api.services import batches


def test_a_cancel_between_the_status_and_the_counts_is_seen(tmp_path):
    url = f"sqlite:///{tmp_path / 'rgrid.db'}"
    upgrade_to_head(url)
    make = get_sessionmaker(url)
    now = datetime.now(timezone.utc)
    with make() as setup:
        account = Account(name="owner")
        setup.add(account)
        setup.flush()
        batch = Batch(account_id=account.id, script_name="b.py", total=1, parallel=1,
                      status="running")
        setup.add(batch)
        setup.flush()
        setup.add(Execution(account_id=account.id, status="queued", script_name="b.py",
                            script_content="print(1)\n", runtime="python3.11",
                            image="rgrid/python:3.11", args=[], env={}, memory_mb=512,
                            cpus=1.0, timeout_seconds=60, batch_id=batch.id, batch_index=0))
        setup.commit()
        batch_id, owner = batch.id, account
    with make() as coordinator, make() as user:
        seen = batches._batch_by_id(coordinator, batch_id)  # as report_in holds it
        assert seen.status == "running"
        batches.cancel_batch(user, account=owner, batch_id=batch_id, now=now)
        plan = batches.plan(coordinator, batch_id, settings=Settings(database_url=url),
                            now=now)
    assert (plan.queued, plan.running, plan.cancelled) == (0, 0, True)
