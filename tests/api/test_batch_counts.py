"""A batch's counts and cost (``batch_item_counts``), kept as its items move and are
priced, always equal a recount of the items, whatever the moves and prices, whichever of
them were rolled back, on SQLite and on PostgreSQL (the migrations that brought them in
are tested in ``test_migrations``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Base, Batch, BatchItemCount, Execution, as_utc
from rgrid_api.services import costs, lifecycle
from rgrid_common.status import ExecutionStatus

START = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
FINISHED = [status for status in ExecutionStatus if status.is_finished]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory, new_postgres_database) -> Iterator:
    url = (f"sqlite:///{tmp_path_factory.mktemp('counts') / 'counts.db'}"
           if request.param == "sqlite" else new_postgres_database())
    engine = database_with_an_account(url)
    yield engine
    engine.dispose()


def database_with_an_account(url: str):
    """The models' schema, and the account the batches made here belong to."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Account(id="acc_counts", name="counts"))
        session.commit()
    return engine


def _new_batch(session: Session, items: int) -> tuple[str, list[str]]:
    batch = Batch(account_id="acc_counts", script_name="a.py", total=items, parallel=items,
                  status="running")
    session.add(batch)
    session.flush()
    session.add_all(lifecycle.new_batch_counts(batch.id, items))
    executions = [lifecycle.new_queued(
        account_id="acc_counts", script_name="a.py", script_content="", runtime="python3.11",
        image="rgrid/python:3.11", args=[], env={}, memory_mb=512, cpus=1,
        timeout_seconds=60, result_cache="off", batch_id=batch.id, batch_index=index)
        for index in range(items)]
    session.add_all(executions)
    session.commit()
    return batch.id, [execution.id for execution in executions]


Kept = dict[str, tuple[int, int, float, int, int, int]]


def _kept(session: Session, batch_id: str) -> Kept:
    rows = session.execute(select(BatchItemCount).where(BatchItemCount.batch_id == batch_id))
    return {row.status: (row.items, row.ran_items, round(row.ran_seconds, 3), row.cost_micros,
                         row.priced_items, row.final_items)
            for row in rows.scalars()}


def _recounted(session: Session, batch_id: str) -> Kept:
    counted = {status.value: [0, 0, 0.0, 0, 0, 0] for status in ExecutionStatus}
    for item in session.scalars(select(Execution).where(Execution.batch_id == batch_id)):
        row = counted[item.status]
        row[0] += 1
        if item.started_at is not None and item.finished_at is not None:
            row[1] += 1
            row[2] += (as_utc(item.finished_at) - as_utc(item.started_at)).total_seconds()
        row[3] += item.cost_micros or 0
        row[4] += item.cost_state is not None
        row[5] += item.cost_state == costs.FINAL
    return {status: (items, ran, round(seconds, 3), micros, priced, final)
            for status, (items, ran, seconds, micros, priced, final) in counted.items()}


def _apply(session: Session, move: tuple, batch_id: str, ids: list[str],
           now: datetime) -> None:
    kind, index, status = move
    execution = session.get(Execution, ids[index % len(ids)])
    if kind == "claim":
        lifecycle.claim_next_in_batch(session, batch_id=batch_id, parallel=1 + index % 3,
                                      flow_run_id="fr", worker="w", now=now)
    elif kind == "finish":
        lifecycle.finish(session, execution, status, now=now, attempt=execution.attempt)
    elif kind == "answer_from_cache":  # a queued item answered without running, for free
        if lifecycle.finish(session, execution, ExecutionStatus.SUCCEEDED, now=now,
                            from_status=ExecutionStatus.QUEUED):
            costs.priced(session, execution, 0, costs.FINAL)
    elif kind == "estimate":  # its worker's report: what it cost, until its hours close
        session.flush()  # what an earlier estimate wrote, before the object is read again
        session.refresh(execution)  # bulk moves (claims, cancels) leave the object behind
        if ExecutionStatus(execution.status).is_finished and not execution.cached_from:
            costs.priced(session, execution, 1000 + 7 * index, costs.ESTIMATED)
    elif kind == "make_final":  # the billing hours it ran in closed (no shares kept here)
        costs.make_final(session, "w", closed_until=now)
    elif kind == "requeue":
        lifecycle.requeue(session, execution, attempt=execution.attempt, now=now)
    elif kind == "cancel_queued":
        lifecycle.cancel_queued_in_batch(session, batch_id, now=now, reason="test")
    elif kind == "cancel_one":
        lifecycle.cancel(session, Execution.id == execution.id, now=now, reason="test")
    elif kind == "commit":
        session.commit()
    else:
        session.rollback()


moves = st.lists(st.tuples(
    st.sampled_from(["claim", "claim", "claim", "finish", "finish", "answer_from_cache",
                     "estimate", "estimate", "make_final", "requeue", "cancel_queued",
                     "cancel_one", "commit", "rollback"]),
    st.integers(min_value=0, max_value=7), st.sampled_from(FINISHED)), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.integers(min_value=1, max_value=6), moves=moves)
def test_the_kept_counts_and_cost_equal_a_recount_whatever_the_moves(engine, items, moves):
    with Session(engine, expire_on_commit=False) as session:
        batch_id, ids = _new_batch(session, items)
        for step, move in enumerate(moves):
            _apply(session, move, batch_id, ids, START + timedelta(seconds=1.5 * step))
            if move[0] in ("commit", "rollback"):
                assert _kept(session, batch_id) == _recounted(session, batch_id)
        session.commit()
        assert _kept(session, batch_id) == _recounted(session, batch_id)
        assert sum(kept[0] for kept in _kept(session, batch_id).values()) == items
