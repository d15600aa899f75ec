"""The PostgreSQL database of the dev stack's Prefect server.

Measured on this kind of machine, Prefect on SQLite does not hold the single-machine
default's load: with eight batches and their shards polling, its write lock was held for
up to a minute ("database is locked"; `mark_work_queues_ready` taking 60 s), and the
API's flow-run creations outlived the CLI's timeout. So ``scripts/dev up`` puts Prefect on
the machine's PostgreSQL cluster (installed and started when missing), in a database and
role of its own. The RGrid API stays on SQLite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devstack.engine import Say, apt_install
from rgrid_common.errors import RGridError

DATABASE = "rgrid_prefect"
ROLE = "rgrid_prefect"
CLUSTERS = Path("/etc/postgresql")
NEEDS_ROOT_HINT = ("Install and start PostgreSQL yourself and point "
                   "RGRID_DEV_PREFECT_DATABASE_URL at a database "
                   "(postgresql+asyncpg://user:password@127.0.0.1:5432/name).")


def ensure_prefect_database(password: str, say: Say, *, database: str = DATABASE,
                            role: str = ROLE) -> str:
    """The URL of Prefect's database, made (role, database) and started if needed."""
    if shutil.which("pg_ctlcluster") is None:
        _as_root("PostgreSQL is not installed.")
        say("… installing PostgreSQL (apt-get install postgresql)")
        apt_install("postgresql")
    version, name, port, online = _cluster()
    if not online:
        _as_root(f"The PostgreSQL {version} cluster {name!r} is not running.")
        say(f"… starting PostgreSQL {version} ({name})")
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=True,
                       capture_output=True)
    _as_root("RGrid's Prefect database cannot be made without root.")
    _psql(_role_sql(role, password))
    if _psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'").strip() != "1":
        _psql(f'CREATE DATABASE "{database}" OWNER "{role}"')
        say(f"✓ PostgreSQL database {database!r} created for Prefect")
    return f"postgresql+asyncpg://{role}:{password}@127.0.0.1:{port}/{database}"


def _cluster() -> tuple[str, str, str, bool]:
    """The version, name, port and whether it runs of the newest cluster named `main`
    (Debian's default), else of the newest cluster: a machine may hold others (the chaos
    tests make one of their own), which are not the dev stack's."""
    listed = subprocess.run(["pg_lsclusters", "-h"], check=True, capture_output=True,
                            text=True).stdout.split("\n")
    clusters = [line.split() for line in listed if line.strip()]
    if not clusters:
        raise RGridError("PostgreSQL is installed but has no cluster.",
                         "Create one (`pg_createcluster 15 main`) and run this again.")
    chosen = max(clusters, key=lambda fields: (fields[1] == "main", float(fields[0])))
    return chosen[0], chosen[1], chosen[2], chosen[3] == "online"


def _role_sql(role: str, password: str) -> str:
    quoted = password.replace("'", "''")
    return (f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"ALTER ROLE \"{role}\" LOGIN PASSWORD '{quoted}'; ELSE "
            f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{quoted}'; END IF; END $$;")


def _psql(sql: str) -> str:
    """As the postgres superuser, SQL on stdin (so no password shows in a process list)."""
    done = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qAt",
                           "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True,
                          text=True, cwd="/")
    if done.returncode != 0:
        raise RGridError(f"PostgreSQL refused RGrid's set-up: {done.stderr.strip()}",
                         NEEDS_ROOT_HINT)
    return done.stdout


def _as_root(what: str) -> None:
    if os.geteuid() != 0:
        raise RGridError(what, NEEDS_ROOT_HINT)
