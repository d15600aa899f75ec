import pytest
from sqlalchemy import create_engine, inspect, text

from rgrid_api.core.db import downgrade_to_base, upgrade_to_head

TABLES = {"accounts", "api_keys", "executions", "log_chunks", "artifacts", "batches",
          "schedules", "nodes", "autoscaler_events", "worker_tokens", "billing_hours",
          "cost_shares", "console_sessions", "batch_item_counts"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path, new_postgres_database) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return new_postgres_database()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_upgrade_an_empty_database_to_head_and_back(empty_database):
    assert _tables(empty_database) == set()
    upgrade_to_head(empty_database)
    assert _tables(empty_database) == TABLES
    downgrade_to_base(empty_database)
    assert _tables(empty_database) == set()


def test_the_migrations_build_exactly_the_schema_the_models_describe(empty_database):
    """A column or index added to a model without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from rgrid_api.models import Base

    upgrade_to_head(empty_database)
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection),
                                           Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_the_finished_on_migration_fills_the_utc_date_of_executions_already_finished(
        empty_database):
    """Rows finished before 0015 get their UTC date: one just before midnight UTC keeps
    its day whatever the database session's zone."""
    from alembic import command
    from sqlalchemy import text

    from rgrid_api.core.db import alembic_config

    command.upgrade(alembic_config(empty_database), "0014")
    engine = create_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO accounts (id, name, created_at) "
                                    "VALUES ('acc_1', 'a', CURRENT_TIMESTAMP)"))
            for execution_id, finished in (("ex_late", "2026-11-02 23:59:59+00:00"),
                                           ("ex_open", None)):
                connection.execute(text(
                    "INSERT INTO executions (id, account_id, status, script_name, "
                    "script_content, runtime, image, args, env, memory_mb, disk_mb, cpus, "
                    "timeout_seconds, created_at, finished_at) VALUES (:id, 'acc_1', "
                    "'succeeded', 'a.py', '', 'python3.11', 'i', '[]', '{}', 512, 1024, 1, "
                    "60, CURRENT_TIMESTAMP, :finished)"), {"id": execution_id,
                                                            "finished": finished})
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ALTER DATABASE "
                                        f'"{engine.url.database}" SET timezone TO '
                                        "'Pacific/Auckland'"))
        upgrade_to_head(empty_database)
        with engine.connect() as connection:
            days = dict(connection.execute(text("SELECT id, finished_on FROM executions")).all())
    finally:
        engine.dispose()
    assert {key: value and str(value) for key, value in days.items()} == {
        "ex_late": "2026-11-02", "ex_open": None}


def test_the_migration_counts_the_batches_already_there(empty_database):
    """Batches made before 0016 get their counts from their items: the run time of those
    that started and ended, whatever the database."""
    from alembic import command

    from rgrid_api.core.db import alembic_config, upgrade_to_head

    command.upgrade(alembic_config(empty_database), "0015")
    engine = create_engine(empty_database)
    items = [("ex_q", "queued", None, None), ("ex_r", "running", "12:00:00", None),
             ("ex_s1", "succeeded", "12:00:00", "12:00:02"),
             ("ex_s2", "succeeded", "12:00:00", "12:00:04"),
             ("ex_c", "succeeded", None, "12:00:01"),  # answered from the cache
             ("ex_f", "failed", "12:00:00", "12:01:00")]
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO accounts (id, name, created_at) "
                                    "VALUES ('acc_1', 'a', CURRENT_TIMESTAMP)"))
            for batch_id in ("bat_old", "bat_empty"):
                connection.execute(text(
                    "INSERT INTO batches (id, account_id, script_name, total, parallel, "
                    "fail_fast, status, created_at) VALUES (:id, 'acc_1', 'a.py', 6, 2, "
                    "false, 'running', CURRENT_TIMESTAMP)"), {"id": batch_id})
            for execution_id, status, started, finished in [
                    *items, ("ex_alone", "succeeded", "12:00:00", "12:00:09")]:
                _insert_execution(connection, id=execution_id, status=status,
                                  started_at=started and f"2026-12-05 {started}+00:00",
                                  finished_at=finished and f"2026-12-05 {finished}+00:00",
                                  batch_id=None if execution_id == "ex_alone" else "bat_old")
        upgrade_to_head(empty_database)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT batch_id, status, items, ran_items, ran_seconds "
                "FROM batch_item_counts")).all()
    finally:
        engine.dispose()
    counts = {(batch, status): (items, ran, round(seconds, 3))
              for batch, status, items, ran, seconds in rows}
    assert {key: value for key, value in counts.items() if key[0] == "bat_old"} == {
        ("bat_old", "queued"): (1, 0, 0), ("bat_old", "running"): (1, 0, 0),
        ("bat_old", "succeeded"): (3, 2, 6.0), ("bat_old", "failed"): (1, 1, 60.0),
        ("bat_old", "timed_out"): (0, 0, 0), ("bat_old", "cancelled"): (0, 0, 0)}
    assert {value for key, value in counts.items() if key[0] == "bat_empty"} == {(0, 0, 0)}
    assert len(counts) == 12, "every status of every batch has its row"


def test_the_migration_keeps_the_cost_of_the_batches_already_there(empty_database):
    """Batches made before 0018 get their cost from their items' (estimated or final),
    beside their counts."""
    from alembic import command

    from rgrid_api.core.db import alembic_config, upgrade_to_head

    command.upgrade(alembic_config(empty_database), "0015")
    engine = create_engine(empty_database)
    items = [("ex_q", "queued", None, None, "bat_old"),
             ("ex_s1", "succeeded", 100, "estimated", "bat_old"),
             ("ex_s2", "succeeded", 250, "final", "bat_old"),
             ("ex_c", "succeeded", 0, "final", "bat_old"),  # answered from the cache
             ("ex_f", "failed", 40, "estimated", "bat_old"),
             ("ex_alone", "succeeded", 999, "final", None)]
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO accounts (id, name, created_at) "
                                    "VALUES ('acc_1', 'a', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO batches (id, account_id, script_name, total, parallel, "
                "fail_fast, status, created_at) VALUES ('bat_old', 'acc_1', 'a.py', 5, 2, "
                "false, 'running', CURRENT_TIMESTAMP)"))
            for execution_id, status, micros, state, batch in items:
                _insert_execution(connection, id=execution_id, status=status,
                                  cost_micros=micros, cost_state=state, batch_id=batch)
        upgrade_to_head(empty_database)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT status, cost_micros, priced_items, final_items FROM batch_item_counts "
                "WHERE batch_id = 'bat_old'")).all()
    finally:
        engine.dispose()
    assert {status: (micros, priced, final) for status, micros, priced, final in rows} == {
        "queued": (0, 0, 0), "running": (0, 0, 0), "succeeded": (350, 3, 2),
        "failed": (40, 1, 0), "timed_out": (0, 0, 0), "cancelled": (0, 0, 0)}


def _insert_execution(connection, **values) -> None:
    """An execution of account acc_1 as a migration's SQL sees it: ``values`` (id, status,
    and whatever the test is about) beside the columns every row needs."""
    columns = ", ".join(values)
    connection.execute(text(
        "INSERT INTO executions (account_id, script_name, script_content, runtime, image, "
        f"args, env, memory_mb, disk_mb, cpus, timeout_seconds, created_at, {columns}) "
        "VALUES ('acc_1', 'a.py', '', 'python3.11', 'i', '[]', '{}', 512, 1024, 1, 60, "
        f"CURRENT_TIMESTAMP, {', '.join(':' + name for name in values)})"), values)
