"""The chaos stacks: whole RGrid control planes whose parts the tests break under running
work. Each has parts of its own, so breaking them touches no other test:

- ``distributed_stack``: as on Hetzner. The Prefect server and the RGrid API on a
  PostgreSQL cluster of its own, files in S3 (moto behind a relay that can go down), two
  workers of two slots, one of them in a network namespace of its own joined by a veth
  pair, so its network can be cut.
- ``default_stack``: the single-machine default (API on SQLite, files in a local folder,
  Prefect on PostgreSQL), with its own PostgreSQL cluster.

Every service listens on the veth pair's host address (a loopback address would be out of
the namespace's reach); only the project's own namespace and this host see the traffic.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from devstack.processes import ManagedProcess
from devstack.settings import DevSettings
from devstack.stack import DevStack
from tests.cuttable_socket import CuttableTcp
from tests.helpers import free_port, wait_for, worker_polling
from work_pools import PROCESS_POOL

S3_BUCKET = "rgrid-chaos"


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the test's own, on its own port: restarting it touches no
    other stack."""
    version: str
    name: str
    port: int

    def url(self, database: str, driver: str) -> str:
        return f"postgresql+{driver}://postgres:postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str) -> None:
        subprocess.run(["su", "postgres", "-c", f'psql -p {self.port} -qc "{sql}"'],
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "stop", "-m", "fast"],
                       check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "start"], check=True,
                       capture_output=True)


@dataclass
class WorkerNetwork:
    """A network namespace joined to this host by a veth pair: a host of its own for a
    worker, whose link can be cut and restored."""
    namespace: str
    host_link: str
    host_address: str

    def cut(self) -> None:
        subprocess.run(["ip", "link", "set", self.host_link, "down"], check=True)

    def restore(self) -> None:
        subprocess.run(["ip", "link", "set", self.host_link, "up"], check=True)


@pytest.fixture(scope="package")
def own_postgres() -> Iterator[OwnPostgres]:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    cluster = OwnPostgres(version, f"chaos{secrets.token_hex(3)}", free_port())
    subprocess.run(["pg_createcluster", version, cluster.name, "-p", str(cluster.port),
                    "--start"], check=True, capture_output=True)
    try:
        cluster.psql("ALTER USER postgres PASSWORD 'postgres'")
        yield cluster
    finally:
        subprocess.run(["pg_dropcluster", "--stop", version, cluster.name],
                       capture_output=True)


@pytest.fixture(scope="package")
def worker_network() -> Iterator[WorkerNetwork]:
    tag = secrets.token_hex(2)
    subnet = 16 + secrets.randbelow(200)
    network = WorkerNetwork(f"rgrid-chaos-{tag}", f"rgc{tag}h", f"10.231.{subnet}.1")
    commands = [
        ["ip", "netns", "add", network.namespace],
        ["ip", "link", "add", network.host_link, "type", "veth", "peer", "name", f"rgc{tag}n"],
        ["ip", "link", "set", f"rgc{tag}n", "netns", network.namespace],
        ["ip", "addr", "add", f"{network.host_address}/30", "dev", network.host_link],
        ["ip", "link", "set", network.host_link, "up"],
        ["ip", "netns", "exec", network.namespace, "ip", "addr", "add",
         f"10.231.{subnet}.2/30", "dev", f"rgc{tag}n"],
        ["ip", "netns", "exec", network.namespace, "ip", "link", "set", f"rgc{tag}n", "up"],
        ["ip", "netns", "exec", network.namespace, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield network
    finally:
        subprocess.run(["ip", "link", "del", network.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", network.namespace], capture_output=True)


@dataclass
class ChaosStack:
    stack: DevStack
    postgres: OwnPostgres
    workers: dict[str, ManagedProcess]
    s3: CuttableTcp | None = None
    s3_endpoint: str | None = None
    network: WorkerNetwork | None = None


def _up(settings: DevSettings) -> DevStack:
    stack = DevStack(settings, say=lambda line: print(line, flush=True))
    stack.up()
    return stack


def _add_worker(stack: DevStack, name: str, netns: str | None = None) -> ManagedProcess:
    process = ManagedProcess(name, stack.home)
    stack.start_worker(process, name, netns=netns)
    wait_for(lambda: worker_polling(stack.settings.prefect_api_url, PROCESS_POOL.name, name),
             60, f"worker {name}")
    return process


COMMON = dict(worker_query_seconds=0.5, worker_limit=2, heartbeat_seconds=1,
              lost_after_seconds=15, package_index_url="http://127.0.0.1:9/simple",
              package_index_cert=None)


@pytest.fixture(scope="module")
def distributed_stack(tmp_path_factory: pytest.TempPathFactory, own_postgres: OwnPostgres,
                      worker_network: WorkerNetwork) -> Iterator[ChaosStack]:
    for database in ("prefect", "rgrid"):
        own_postgres.psql(f"CREATE DATABASE {database}")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto._port}"
    s3 = boto3.client("s3", endpoint_url=moto_url, aws_access_key_id="test-access",
                      aws_secret_access_key="test-secret", region_name="us-east-1")
    s3.create_bucket(Bucket=S3_BUCKET)
    # every PUT of a key keeps a version: an output uploaded twice shows as two
    s3.put_bucket_versioning(Bucket=S3_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    home = tmp_path_factory.mktemp("rgrid-chaos-home")
    with CuttableTcp(moto._port, host=worker_network.host_address) as relay:
        stack = None
        try:
            stack = _up(DevSettings(
                home=home, host=worker_network.host_address, prefect_port=free_port(),
                api_port=free_port(), cli_config=home / "cli-config.json", start_worker=False,
                prefect_database_url=own_postgres.url("prefect", "asyncpg"),
                api_database_url=own_postgres.url("rgrid", "psycopg"),
                worker_name="chaos-host", storage_backend="s3", s3_endpoint=relay.url,
                s3_access_key="test-access", s3_secret_key="test-secret",
                s3_bucket=S3_BUCKET, **COMMON))
            workers = {"chaos-host": _add_worker(stack, "chaos-host"),
                       "chaos-netns": _add_worker(stack, "chaos-netns",
                                                  netns=worker_network.namespace)}
            yield ChaosStack(stack, own_postgres, workers, s3=relay, s3_endpoint=moto_url,
                             network=worker_network)
        finally:
            worker_network.restore()
            relay.up()
            if stack:
                for name in ("chaos-host", "chaos-netns"):
                    ManagedProcess(name, home).stop()
                stack.down()
            moto.stop()


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory,
                  own_postgres: OwnPostgres) -> Iterator[ChaosStack]:
    own_postgres.psql("CREATE DATABASE prefect_default")
    home = tmp_path_factory.mktemp("rgrid-chaos-default-home")
    stack = None
    try:
        stack = _up(DevSettings(
            home=home, prefect_port=free_port(), api_port=free_port(),
            cli_config=home / "cli-config.json", worker_name="chaos-local",
            prefect_database_url=own_postgres.url("prefect_default", "asyncpg"), **COMMON))
        yield ChaosStack(stack, own_postgres, {"chaos-local": stack.processes["worker"]})
    finally:
        if stack:
            stack.down()
