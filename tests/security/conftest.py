"""The attack suite runs on the API tests' real parts (the API app, a real Docker engine,
the stack's Prefect); the database is not what it attacks, so SQLite alone."""

from __future__ import annotations

import pytest

from tests.api.conftest import (alice, api, api_settings, as_alice, as_bob,  # noqa: F401
                                bob, clock, clocked, control_headers, idle_deployment,
                                issue_worker_headers, make_account, worker_headers)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('security-db') / 'rgrid.db'}"
