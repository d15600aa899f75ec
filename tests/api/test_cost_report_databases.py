"""The cost report's grouping keys on both databases: each computes the day its own way
(PostgreSQL a date per row, SQLite a prefix of the stored text); both must agree."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rgrid_api.core.db import session_scope, upgrade_to_head
from rgrid_api.models import Account, Execution
from rgrid_api.services import costs

FIRST = datetime(2026, 11, 2, 23, 59, 59, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_with_costs(request, tmp_path, new_postgres_database) -> str:
    url = (f"sqlite:///{tmp_path / 'costs.db'}" if request.param == "sqlite"
           else new_postgres_database())
    upgrade_to_head(url)
    return url


def _finished(account_id: str, at: datetime, micros: int, **fields) -> Execution:
    return Execution(account_id=account_id, status="succeeded", script_name="a.py",
                     script_content="", runtime="python3.11", image="rgrid/python:3.11",
                     args=[], env={}, memory_mb=512, disk_mb=1024, cpus=1.0,
                     timeout_seconds=60, created_at=at, finished_at=at, cost_micros=micros,
                     cost_state="estimated", compute_microseconds=1_000_000, **fields)


def test_costs_by_day_are_keyed_by_the_utc_date_on_both_databases(database_with_costs):
    for session in session_scope(database_with_costs):
        account = Account(name="days")
        session.add(account)
        session.flush()
        session.add_all([_finished(account.id, FIRST, 3),
                         _finished(account.id, FIRST + timedelta(seconds=1), 5),
                         _finished(account.id, FIRST + timedelta(seconds=2), 7,
                                   tags={"team": "b"})])
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
