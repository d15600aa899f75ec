"""The one lifecycle, on a real SQLite database: a move happens exactly when the transition
table allows it and the caller's attempt (or claim) is still current; a lost race is an
answer (nothing moved), never a second winner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Base, Execution
from rgrid_api.services import lifecycle
from rgrid_common.status import ExecutionStatus, can_transition

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'lifecycle.db'}")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        account = Account(name="owner")
        session.add(account)
        session.flush()
        session.info["account_id"] = account.id
        yield session
    engine.dispose()


def _execution(session: Session, status: ExecutionStatus, attempt: int = 1) -> Execution:
    execution = lifecycle.new_queued(
        account_id=session.info["account_id"], script_name="a.py", script_content="",
        runtime="python3.11", image="rgrid/python:3.11", args=[], env={}, memory_mb=512,
        cpus=1, timeout_seconds=60, result_cache="off", attempt=attempt,
        claimed_by="fr-1" if status != ExecutionStatus.QUEUED else None)
    execution.status = status.value  # the fixture's starting point, not a transition
    session.add(execution)
    session.commit()
    return execution


@pytest.mark.parametrize("current", list(ExecutionStatus))
@pytest.mark.parametrize("new", list(ExecutionStatus))
def test_a_move_happens_exactly_when_the_table_allows_it(session, current, new):
    execution = _execution(session, current)

    moved = lifecycle._move(session, new, Execution.id == execution.id, now=NOW,
                            execution=execution)
    session.commit()

    assert bool(moved) == can_transition(current, new)
    session.refresh(execution)
    assert execution.status == (new if moved else current).value


def test_two_claims_one_winner_stamped_with_the_callers_clock(session):
    execution = _execution(session, ExecutionStatus.QUEUED)

    first = lifecycle.claim(session, execution.id, flow_run_id="fr-a", worker="w1", now=NOW)
    second = lifecycle.claim(session, execution.id, flow_run_id="fr-b", worker="w2",
                             now=NOW + timedelta(seconds=1))
    session.commit()

    assert (first, second) == (True, False)
    session.refresh(execution)
    assert (execution.claimed_by, execution.worker) == ("fr-a", "w1")
    assert execution.started_at.replace(tzinfo=timezone.utc) == NOW


def test_a_stale_attempt_can_neither_finish_nor_requeue(session):
    execution = _execution(session, ExecutionStatus.RUNNING, attempt=2)

    assert not lifecycle.finish(session, execution, ExecutionStatus.SUCCEEDED, now=NOW,
                                attempt=1)
    assert not lifecycle.requeue(session, execution, attempt=1, now=NOW)
    assert lifecycle.requeue(session, execution, attempt=2, now=NOW)
    session.commit()
    session.refresh(execution)
    assert (execution.status, execution.attempt, execution.claimed_by) == ("queued", 3, None)


def test_cancel_takes_queued_and_running_and_leaves_finished_alone(session):
    queued = _execution(session, ExecutionStatus.QUEUED)
    running = _execution(session, ExecutionStatus.RUNNING)
    done = _execution(session, ExecutionStatus.SUCCEEDED)

    cancelled = lifecycle.cancel(session, Execution.id.in_([queued.id, running.id, done.id]),
                                 now=NOW, reason="by its owner")
    session.commit()

    assert sorted(cancelled) == sorted([queued.id, running.id])
    for execution in (queued, running, done):
        session.refresh(execution)
    assert (queued.status, running.status, done.status) == ("cancelled", "cancelled",
                                                            "succeeded")
    assert running.claimed_by == "fr-1", "its worker may still report what it wrote"
    assert running.finished_at.replace(tzinfo=timezone.utc) == NOW


def test_finish_only_reaches_a_finished_status(session):
    execution = _execution(session, ExecutionStatus.RUNNING)
    with pytest.raises(ValueError, match="queued is not a finished status"):
        lifecycle.finish(session, execution, ExecutionStatus.QUEUED, now=NOW)
