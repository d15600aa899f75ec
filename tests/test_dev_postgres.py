"""`scripts/dev up` keeps Prefect's state in a PostgreSQL database and role of its own on
this machine's cluster (devstack/postgres.py): made once, logged into with the password
the dev home holds, the password taking effect again when it changes."""

from __future__ import annotations

import secrets

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devstack.postgres import ensure_prefect_database
from tests.conftest import POSTGRES_ADMIN_URL


def _logs_in(url: str) -> bool:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT current_database()")).scalar() in url
    finally:
        engine.dispose()


def test_prefect_gets_a_database_of_its_own_made_once(postgres_url):
    name = f"rgrid_prefect_{secrets.token_hex(4)}"
    said: list[str] = []
    try:
        first = ensure_prefect_database("first-password", said.append, database=name, role=name)
        second = ensure_prefect_database("second-password", said.append, database=name,
                                         role=name)

        assert first.startswith(f"postgresql+asyncpg://{name}:first-password@127.0.0.1:")
        assert first.endswith(f"/{name}")
        assert said == [f"✓ PostgreSQL database {name!r} created for Prefect"]
        assert _logs_in(second)
    finally:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()
