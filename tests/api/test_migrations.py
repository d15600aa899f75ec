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
