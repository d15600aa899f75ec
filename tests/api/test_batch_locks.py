"""Row locks on PostgreSQL (SQLite has one writer at a time): whatever changes a batch's
items and the batch takes the batch's row first, so a cancel and a shard's claim, at the
same moment, wait for each other in turn rather than in a cycle."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Account, Batch, Execution
from rgrid_api.services import batches, finish_reports, lifecycle
from rgrid_api.storage.local import LocalObjectStore
from rgrid_common.protocol import FinishRequest, NextClaim
from rgrid_common.status import ExecutionStatus
from tests.api.test_batch_counts import _new_batch, database_with_an_account
from tests.helpers import wait_for

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(new_postgres_database) -> Iterator:
    engine = database_with_an_account(new_postgres_database())
    yield engine
    engine.dispose()


def _waiting_on_a_lock(engine, pid: int) -> bool:
    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"),
            {"pid": pid}).scalar() is True


def test_a_cancel_and_a_shards_claim_at_once_both_go_through(engine):
    with Session(engine, expire_on_commit=False) as shard, \
            Session(engine, expire_on_commit=False) as owner:
        batch_id, ids = _new_batch(shard, 4)
        account = owner.get(Account, "acc_counts")
        owner_pid = owner.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # the shard's claim has taken the batch's row, as batches.claim_next does first
        shard.execute(select(Batch.id).where(Batch.id == batch_id)
                      .with_for_update())
        cancelled: list = []
        canceller = threading.Thread(target=lambda: cancelled.append(batches.cancel_batch(
            owner, account=account, batch_id=batch_id, now=NOW)))
        canceller.start()
        wait_for(lambda: _waiting_on_a_lock(engine, owner_pid), 30,
                 "the cancel to wait for the shard's lock")

        claimed = lifecycle.claim_next_in_batch(shard, batch_id=batch_id, parallel=4,
                                                flow_run_id="fr", worker="w", now=NOW)
        shard.commit()
        canceller.join(timeout=30)

        assert claimed == ids[0], "the claim went through, not into a deadlock"
        [(batch, items)] = cancelled
        assert (batch.status, items) == ("cancelled", 4), "then the cancel, of all four"
        statuses = shard.scalars(select(Execution.status).where(
            Execution.batch_id == batch_id)).all()
        assert set(statuses) == {"cancelled"}


def test_a_finish_report_that_claims_and_a_cancel_at_once_both_go_through(engine, tmp_path):
    """The report and its claim are one transaction (``finish_reports``), which takes the
    batch's row before the report changes its item: a cancel arriving as the report
    begins waits for it, rather than taking the batch and then waiting on the item the
    report holds while the report waits on the batch."""
    with Session(engine, expire_on_commit=False) as shard, \
            Session(engine, expire_on_commit=False) as owner:
        batch_id, ids = _new_batch(shard, 3)
        running = lifecycle.claim_next_in_batch(shard, batch_id=batch_id, parallel=1,
                                                flow_run_id="fr", worker="w", now=NOW)
        shard.commit()
        account = owner.get(Account, "acc_counts")
        owner_pid = owner.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        cancelled: list = []
        canceller = threading.Thread(target=lambda: cancelled.append(batches.cancel_batch(
            owner, account=account, batch_id=batch_id, now=NOW)))
        reporter = threading.current_thread()

        def cancel_as_the_report_changes_its_item(_conn, _cursor, statement, *_args) -> None:
            if (threading.current_thread() is reporter and not canceller.is_alive()
                    and not cancelled and statement.startswith("UPDATE executions")):
                canceller.start()
                wait_for(lambda: _waiting_on_a_lock(engine, owner_pid), 30,
                         "the cancel to wait for the report's lock on the batch")

        report = FinishRequest(status=ExecutionStatus.SUCCEEDED, exit_code=0, attempt=1,
                               then_claim=NextClaim(flow_run_id="fr", worker="w",
                                                    batch_id=batch_id))
        event.listen(engine, "before_cursor_execute", cancel_as_the_report_changes_its_item)
        try:
            job = finish_reports.take_report(
                shard, execution_id=running, worker="w", request=report,
                store=LocalObjectStore(tmp_path, signing_key=b"k", public_url="http://x",
                                       clock=lambda: NOW),
                settings=Settings(database_url=str(engine.url)), now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", cancel_as_the_report_changes_its_item)
        canceller.join(timeout=30)

        assert job is not None and job.execution_id == ids[1], "the report claimed the next"
        [(batch, items)] = cancelled
        assert (batch.status, items) == ("cancelled", 2), "then the cancel, of the two left"
        statuses = dict(shard.execute(select(Execution.id, Execution.status).where(
            Execution.batch_id == batch_id)).all())
        assert statuses == {ids[0]: "succeeded", ids[1]: "cancelled", ids[2]: "cancelled"}
