"""What several benchmarks share: an RGrid API in a process of its own, on a database of
its own, percentiles, and where the figures are kept."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devstack.environment import environment_for
from rgrid_api.core.config import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "RGRID_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres")


@contextmanager
def database(kind: str, home: Path):
    """A database of the run's own: SQLite in ``home``, or one made on the PostgreSQL
    server and dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'bench.db'}"
        return
    name = f"rgrid_bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def save(path: Path, report: dict) -> None:
    """The run's figures, kept in benchmarks/results/ and printed."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ApiProcess:
    """``python -m rgrid_api`` on ``database_url`` (SQLite in ``home`` unless given)."""

    def __init__(self, home: Path, prefect_url: str, deployment: str,
                 database_url: str | None = None) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.settings = Settings(
            port=port, database_url=database_url or f"sqlite:///{home / 'rgrid.db'}",
            prefect_api_url=prefect_url, execute_deployment=deployment,
            admin_key="admin-" + secrets.token_hex(8),
            control_token="control-" + secrets.token_hex(8), storage_dir=home / "objects",
            storage_signing_key=secrets.token_hex(16), public_url=self.url,
            submissions_per_minute=0)
        env = {**os.environ, **environment_for(Settings, **self.settings.model_dump())}
        self._log = open(os.environ.get("RGRID_BENCH_API_LOG", home / "api.log"), "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "rgrid_api"], env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        sys.exit("the API did not start")

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_key.get_secret_value()}"}

    @property
    def control_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.control_token.get_secret_value()}"}

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()
