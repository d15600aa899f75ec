"""Shared, expensive fixtures: one Docker engine, images built once, one RGrid stack
(Prefect server + API + worker) started through the same code as `scripts/dev up`, and a
PostgreSQL database. Nothing here is faked."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devstack.settings import DevSettings
from devstack.stack import DevStack
from tests.helpers import Rgrid, free_port
from tests.package_index import PackageIndex

POSTGRES_ADMIN_URL = os.environ.get(
    "RGRID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """The stack's workers install requirements from here (127.0.0.1, built wheels)."""
    with PackageIndex(tmp_path_factory.mktemp("package-index")) as index:
        yield index


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, new_postgres_database,
          package_index: PackageIndex) -> Iterator[DevStack]:
    yield from _running_stack(tmp_path_factory.mktemp("rgrid-home"), new_postgres_database(),
                              worker_name="rgrid-test-worker",
                              package_index_url=package_index.url, package_index_cert=None)


def _running_stack(home: Path, prefect_database: str, **settings) -> Iterator[DevStack]:
    """A whole stack on free ports in ``home``, brought up and, afterwards, down. Its
    Prefect server keeps its state in PostgreSQL: on SQLite, the load of the suite (several
    workers polling every 0.5 s, runs left late on the API tests' idle pool) held its
    write lock for up to a minute. The RGrid API keeps the single-machine default, SQLite."""
    prefect_url = make_url(prefect_database).set(drivername="postgresql+asyncpg")
    dev_stack = DevStack(DevSettings(home=home, prefect_port=free_port(), api_port=free_port(),
                                     prefect_database_url=prefect_url.render_as_string(
                                         hide_password=False),
                                     cli_config=home / "cli-config.json",
                                     worker_query_seconds=0.5, worker_limit=2,
                                     heartbeat_seconds=1, lost_after_seconds=15, **settings),
                         say=lambda line: print(line, flush=True))
    try:
        dev_stack.up()
        yield dev_stack
    finally:
        dev_stack.down()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-speaking server over HTTP (moto's), as ENVIRONMENT.md prescribes."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_stack(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str,
             new_postgres_database) -> Iterator[DevStack]:
    """A second stack whose API keeps files in S3 (configured through a Prefect block)."""
    yield from _running_stack(tmp_path_factory.mktemp("rgrid-s3-home"), new_postgres_database(),
                              worker_name="rgrid-s3-worker", storage_backend="s3",
                              s3_endpoint=s3_endpoint, s3_access_key="test-access",
                              s3_secret_key="test-secret", s3_bucket="rgrid-test")


@pytest.fixture
def rgrid(stack: DevStack, tmp_path: Path) -> Rgrid:
    """The CLI, logged in as the stack's local account, run from a fresh folder."""
    return Rgrid(stack.settings.cli_config, tmp_path)


@pytest.fixture(scope="session")
def admin_key(stack: DevStack) -> str:
    return stack.secret("admin_key")


@pytest.fixture(scope="session")
def new_postgres_database() -> Iterator:
    """Makes fresh databases on the real PostgreSQL server; all dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = f"rgrid_test_{secrets.token_hex(4)}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - turned into an actionable failure
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}. "
                        "Run the tests through scripts/test, which installs and starts it.")
        created.append(name)
        return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
            hide_password=False)

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_url(new_postgres_database) -> str:
    return new_postgres_database()


def write_script(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source)
    return path
