"""Engine, sessions and schema migration: the one place that opens the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from rgrid_api.core.events import install_session_hooks

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# Threads of an API process that hold a database session at once: request handlers (the
# threadpool FastAPI runs sync routes and dependencies in), live streams' reads, and the
# background loops. The pool has a connection for every one of them. With fewer, under
# load every handler thread can end up waiting for a connection that only a handler's
# cleanup (which needs a thread) would give back: the API stalls until the pool's timeout.
REQUEST_THREADS = 40
STREAM_READ_THREADS = 8
BACKGROUND_THREADS = 4
STARTER_THREADS = 4  # making flow runs: Prefect took the most at 4-8 at once here
POOL_SIZE = 10
POOL_CONNECTIONS = (REQUEST_THREADS + STREAM_READ_THREADS + BACKGROUND_THREADS
                    + STARTER_THREADS + 1)


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@contextmanager
def committed(session: Session) -> Iterator[None]:
    """What the block writes is committed together or, if it raises, not at all."""
    try:
        yield
    except Exception:
        session.rollback()
        raise
    session.commit()


@lru_cache
def get_engine(url: str) -> Engine:
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_CONNECTIONS - POOL_SIZE}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **pool)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


@lru_cache
def get_sessionmaker(url: str) -> sessionmaker[Session]:
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    install_session_hooks(factory, postgres=is_postgres(url))
    return factory


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def session_scope(url: str) -> Iterator[Session]:
    with get_sessionmaker(url)() as session:
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def downgrade_to_base(url: str) -> None:
    command.downgrade(alembic_config(url), "base")
