"""The cost report's grouping keys on both databases: the day is the UTC date an
execution finished on, stored when the lifecycle finishes it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rgrid_api.core.db import session_scope, upgrade_to_head
from rgrid_api.models import Account
from rgrid_api.services import costs, lifecycle
from rgrid_common.status import ExecutionStatus

FIRST = datetime(2026, 11, 2, 23, 59, 59, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_with_costs(request, tmp_path, new_postgres_database) -> str:
    url = (f"sqlite:///{tmp_path / 'costs.db'}" if request.param == "sqlite"
           else new_postgres_database())
    upgrade_to_head(url)
    return url


def _finished(session, account_id: str, at: datetime, micros: int, **fields) -> None:
    """An execution run and finished at ``at`` by the lifecycle, as a worker's report does."""
    execution = lifecycle.new_queued(
        account_id=account_id, script_name="a.py", script_content="", runtime="python3.11",
        image="rgrid/python:3.11", args=[], env={}, memory_mb=512, disk_mb=1024, cpus=1.0,
        timeout_seconds=60, created_at=at, **fields)
    session.add(execution)
    session.flush()
    assert lifecycle.claim(session, execution.id, flow_run_id="fr", worker="w", now=at)
    assert lifecycle.finish(session, execution, ExecutionStatus.SUCCEEDED, now=at,
                            cost_micros=micros, cost_state="estimated",
                            compute_microseconds=1_000_000)


def test_costs_by_day_are_keyed_by_the_utc_date_on_both_databases(database_with_costs):
    for session in session_scope(database_with_costs):
        account = Account(name="days")
        session.add(account)
        session.flush()
        _finished(session, account.id, FIRST, 3)
        _finished(session, account.id, FIRST + timedelta(seconds=1), 5)
        _finished(session, account.id, FIRST + timedelta(seconds=2), 7, tags={"team": "b"})
        session.commit()
        by_day = costs.report(session, account=account, since=FIRST - timedelta(days=1),
                              until=FIRST + timedelta(days=1), by="day")
        by_team = costs.report(session, account=account, since=FIRST - timedelta(days=1),
                               until=FIRST + timedelta(days=1), by="tag:team")
    assert [(line.key, line.estimated_micros) for line in by_day.rows] == [
        ("2026-11-02", 3), ("2026-11-03", 12)]
    assert by_day.total.estimated_micros == 15
    assert sorted((line.key, line.executions) for line in by_team.rows) == [
        ("(no team)", 2), ("b", 1)]
