import pytest
from sqlalchemy import create_engine, inspect

from rgrid_api.core.db import downgrade_to_base, upgrade_to_head

TABLES = {"accounts", "api_keys", "executions", "log_chunks", "artifacts", "batches",
          "schedules", "nodes", "autoscaler_events", "worker_tokens", "billing_hours",
          "cost_shares", "console_sessions"}


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
