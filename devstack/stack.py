"""Brings the single-machine stack up and down. Every step is idempotent."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker

from blocks.object_storage import DEFAULT_BLOCK_NAME, S3Location, save_s3_block
from cli.config import read_config, write_config
from devstack.engine import Say, ensure_docker_engine
from devstack.environment import environment_for
from devstack.images import ensure_runtime_images
from devstack.postgres import ensure_prefect_database
from devstack.processes import ManagedProcess, http_ok
from devstack.settings import DevSettings
from flows.settings import WorkerSettings
from rgrid_api.core.config import DEFAULT_RUNTIMES
from rgrid_api.core.config import Settings as ApiSettings
from rgrid_common.errors import RGridError, checked_answer
from rgrid_common.files import write_private
from rgrid_common.protocol import WorkerTokenIssued
from work_pools import CONTROL_POOL, PROCESS_POOL, WorkPoolSpec, ensure_batch_queue

PROJECT_DIR = Path(__file__).resolve().parents[1]
SERVICES = ("worker", "control-worker", "api", "prefect-server")  # in stopping order
SECRET_NAMES = ("admin_key", "control_token", "storage_signing_key",
                "prefect_database_password")


class DevStack:
    def __init__(self, settings: DevSettings, say: Say = print) -> None:
        self.settings = settings
        self.say = say
        self.home = settings.home
        self.processes = {name: ManagedProcess(name, self.home) for name in SERVICES}

    # --- up ------------------------------------------------------------------------------

    def up(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        ensure_docker_engine(self.home, self.say)
        ensure_runtime_images(list(DEFAULT_RUNTIMES.values()), self.say)
        self.start_prefect_server()
        self._register_pools_and_deployments()
        self.start_api()
        self._start_control_worker()
        self._start_worker()
        self._log_cli_in()
        self.say(f"✓ RGrid is up: API {self.settings.api_url}, Prefect UI "
                 f"http://{self.settings.host}:{self.settings.prefect_port}")

    def start_prefect_server(self) -> None:
        """Starts the Prefect server unless it runs (also again after a test stopped it)."""
        url = f"{self.settings.prefect_api_url}/health"
        argv = [_bin("prefect"), "server", "start", "--host", self.settings.host,
                "--port", str(self.settings.prefect_port)]
        env = {**self._prefect_env(),
               "PREFECT_API_DATABASE_CONNECTION_URL": self._prefect_database_url()}
        self._ensure_service("prefect-server", argv, env, url, timeout=120)

    def _prefect_database_url(self) -> str:
        """The configured one, or PostgreSQL on this machine (see devstack.postgres)."""
        if self.settings.prefect_database_url:
            return self.settings.prefect_database_url
        return ensure_prefect_database(self._secrets()["prefect_database_password"], self.say)

    def _register_pools_and_deployments(self) -> None:
        with SyncPrefectClient(api=self.settings.prefect_api_url) as client:
            for pool in (PROCESS_POOL, CONTROL_POOL):
                self._ensure_pool(client, pool)
            ensure_batch_queue(client, PROCESS_POOL.name)
            if all(_deployment_current(client, name, where)
                   for name, where in DEPLOYMENTS.items()):
                self.say(f"✓ deployments {', '.join(DEPLOYMENTS)} registered")
                return
        result = subprocess.run([_bin("prefect"), "--no-prompt", "deploy", "--all"],
                                cwd=PROJECT_DIR, env=self._prefect_env(),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RGridError(f"Registering the deployments failed:\n{result.stdout[-2000:]}"
                             f"{result.stderr[-2000:]}", "See prefect.yaml.")
        self.say(f"✓ deployments {', '.join(DEPLOYMENTS)} registered from prefect.yaml")

    def _ensure_pool(self, client: SyncPrefectClient, pool: WorkPoolSpec) -> None:
        try:
            client.create_work_pool(WorkPoolCreate(
                name=pool.name, type=pool.type, description=pool.description,
                base_job_template=ProcessWorker.get_default_base_job_template()))
            self.say(f"✓ work pool {pool.name!r} created")
        except ObjectAlreadyExists:
            self.say(f"✓ work pool {pool.name!r} exists")

    @property
    def api_database_url(self) -> str:
        """The configured one, or the single-machine default: SQLite in the dev home."""
        return self.settings.api_database_url or f"sqlite:///{self.home / 'rgrid.db'}"

    def start_api(self) -> None:
        """Starts the API unless it runs (also again after a test stopped it)."""
        secrets_ = self._secrets()
        env = {
            **os.environ,
            **environment_for(
                ApiSettings, host=self.settings.host, port=self.settings.api_port,
                database_url=self.api_database_url,
                prefect_api_url=self.settings.prefect_api_url,
                admin_key=secrets_["admin_key"], control_token=secrets_["control_token"],
                public_url=self.settings.api_url,
                lost_after_seconds=self.settings.lost_after_seconds,
                local_slots=self.settings.worker_limit,  # the local worker's price per slot
                **self._storage_settings(secrets_)),
        }
        self._ensure_service("api", [sys.executable, "-m", "rgrid_api"], env,
                             f"{self.settings.api_url}/api/health", timeout=60)

    def _storage_settings(self, secrets_: dict[str, str]) -> dict[str, object]:
        """The local store is a folder in the dev home; an S3 store's location and
        credentials go into a Prefect block, which the API loads."""
        if self.settings.storage_backend == "local":
            return {"storage_backend": "local", "storage_dir": self.home / "objects",
                    "storage_signing_key": secrets_["storage_signing_key"]}
        save_s3_block(self.settings.prefect_api_url, S3Location(
            endpoint=self.settings.s3_endpoint, access_key=self.settings.s3_access_key,
            secret_key=self.settings.s3_secret_key.get_secret_value(),
            bucket=self.settings.s3_bucket))
        self.say(f"✓ S3 storage block {DEFAULT_BLOCK_NAME!r} saved "
                 f"({self.settings.s3_endpoint}, bucket {self.settings.s3_bucket!r})")
        return {"storage_backend": "s3", "storage_block": DEFAULT_BLOCK_NAME}

    def _start_worker(self) -> None:
        if not self.settings.start_worker:
            self.say("· no worker started: the pool waits for nodes")
            return
        process = self.processes["worker"]
        if process.pid:
            self.say(f"✓ worker already running (pid {process.pid})")
            return
        self.start_worker(process, self.settings.worker_name)

    def _start_control_worker(self) -> None:
        """Part of the control plane, so started even when nodes serve the pool."""
        process = self.processes["control-worker"]
        if process.pid:
            self.say(f"✓ control worker already running (pid {process.pid})")
            return
        self.start_worker(process, self.settings.control_worker_name, pool=CONTROL_POOL,
                          limit=self.settings.control_worker_limit)

    def start_worker(self, process: ManagedProcess, name: str,
                     pool: WorkPoolSpec = PROCESS_POOL, limit: int | None = None,
                     token: str | None = None, netns: str | None = None,
                     query_seconds: float | None = None) -> int:
        """A warm worker on ``pool``; more than one on the process pool make a pool of
        several nodes. It gets its own token (``token``, as a node's cloud-init gives it,
        or a new one). ``netns``: a network namespace to run it in, as on a host of its
        own whose network can be cut (the chaos tests). ``query_seconds``: how often it
        polls Prefect, if not as the settings say."""
        env = {
            **self._prefect_env(),
            "PREFECT_WORKER_QUERY_SECONDS": str(query_seconds or
                                                self.settings.worker_query_seconds),
            "PREFECT_WORKER_PREFETCH_SECONDS": "0",
            **environment_for(
                WorkerSettings, api_url=self.settings.api_url,
                worker_token=token or self.issue_worker_token(name), worker_name=name,
                heartbeat_seconds=self.settings.heartbeat_seconds,
                package_index_url=self.settings.package_index_url,
                package_index_cert=self.settings.package_index_cert),
        }
        argv = [sys.executable, "-m", "work_pools.warm_worker", "--pool", pool.name,
                "--name", name, "--limit", str(limit or self.settings.worker_limit)]
        if netns:  # its network only: `ip netns exec` would hide its /work mounts from dockerd
            argv = ["nsenter", f"--net=/var/run/netns/{netns}", "--", *argv]
        pid = process.start(argv, env=env, cwd=self.home)
        self.say(f"✓ worker {name!r} started on {pool.name!r} (pid {pid})")
        return pid

    def issue_worker_token(self, worker: str) -> str:
        """The worker's own token, from the API, as the autoscaler gets one for each node."""
        response = httpx.post(f"{self.settings.api_url}/api/v1/control/worker-tokens",
                              json={"worker": worker}, timeout=30, headers={
                                  "Authorization": f"Bearer {self.secret('control_token')}"})
        return WorkerTokenIssued.model_validate(checked_answer(response)).token

    def _log_cli_in(self) -> None:
        stored = read_config(self.settings.cli_config)
        if stored.get("api_key") and self._key_works(stored["api_key"]):
            self.say(f"✓ CLI logged in ({self.settings.cli_config})")
            return
        key = self._create_account()
        write_config(self.settings.cli_config, api_url=self.settings.api_url, api_key=key)
        self.say(f"✓ account created; CLI logged in "
                 f"({self.settings.cli_config})")

    def _create_account(self) -> str:
        admin = {"Authorization": f"Bearer {self._secrets()['admin_key']}"}
        name = self.settings.account_name
        for attempt in range(5):
            response = httpx.post(f"{self.settings.api_url}/api/v1/accounts",
                                  json={"name": name}, headers=admin, timeout=30)
            if response.status_code != 409:
                response.raise_for_status()
                return response.json()["api_key"]
            name = f"{self.settings.account_name}-{secrets.token_hex(3)}"
        raise RGridError("Could not create a local account.", "See the API log.")

    def _key_works(self, key: str) -> bool:
        response = httpx.get(f"{self.settings.api_url}/api/v1/accounts/me",
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
        return response.is_success

    # --- down and status -----------------------------------------------------------------

    def down(self) -> None:
        for name in (*SERVICES, "dockerd"):
            process = self.processes.get(name) or ManagedProcess(name, self.home)
            pid = process.pid
            if process.stop():
                self.say(f"✓ stopped {name} (pid {pid})")
            else:
                self.say(f"· {name} was not running")

    def status(self) -> dict[str, int | None]:
        return {name: process.pid for name, process in self.processes.items()}

    # --- helpers -------------------------------------------------------------------------

    def _ensure_service(self, name: str, argv: list[str], env: dict[str, str], health_url: str,
                        *, timeout: float) -> None:
        process = self.processes[name]
        if process.pid and http_ok(health_url):
            self.say(f"✓ {name} already running (pid {process.pid})")
            return
        if http_ok(health_url):
            raise RGridError(f"Something not started by RGrid already answers at {health_url}.",
                             "Stop it, or choose other ports with RGRID_DEV_PREFECT_PORT / "
                             "RGRID_DEV_API_PORT.")
        process.start(argv, env=env, cwd=self.home)
        self.say(f"… starting {name}")
        process.wait_until_healthy(health_url, timeout)
        self.say(f"✓ {name} started (pid {process.pid})")

    def _prefect_env(self) -> dict[str, str]:
        return {
            **PREFECT_SERVER_TUNING,
            **os.environ,
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_API_URL": self.settings.prefect_api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            # a new schedule's first runs are made within seconds, not the default minute
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        }

    def secret(self, name: str) -> str:
        """One of SECRET_NAMES (the admin key, the control-plane token, …)."""
        return self._secrets()[name]

    def _secrets(self) -> dict[str, str]:
        """Generated once per dev home and kept (mode 0600), never regenerated per process;
        a secret added by a newer version is added to an older file."""
        path = self.home / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        missing = [name for name in SECRET_NAMES if name not in stored]
        if missing:
            stored.update({name: secrets.token_urlsafe(32) for name in missing})
            write_private(path, json.dumps(stored))
        return stored


# Defaults of the Prefect server the stack starts, each overridden by the environment.
PREFECT_SERVER_TUNING = {
    # On workers that run a batch's items as task runs (RGRID_ITEMS_AS_TASKS=true), their
    # states reach the server as events (three an item). Prefect's recorder writes each event in a transaction of its own by default;
    # here up to 100 in one, at least once a second (benchmarks/batch_ab.py, README).
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


def _declared_deployments() -> dict[str, tuple[str, str]]:
    """prefect.yaml's deployments ("flow/deployment": each flow is named like its
    deployment) and the pool and queue each belongs on."""
    declared = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())["deployments"]
    return {f"{d['name']}/{d['name']}": (d["work_pool"]["name"],
                                         d["work_pool"]["work_queue_name"])
            for d in declared}


DEPLOYMENTS = _declared_deployments()


def _deployment_current(client: SyncPrefectClient, name: str, where: tuple[str, str]) -> bool:
    """Registered as prefect.yaml says now: on its pool and queue, and with pull steps
    (older ones had none, which makes a stock worker copy "/" into each flow run's
    folder; older ones ran coordinators on the execution pool)."""
    try:
        deployment = client.read_deployment_by_name(name)
    except ObjectNotFound:
        return False
    return bool(deployment.pull_steps) and (deployment.work_pool_name,
                                            deployment.work_queue_name) == where


def _bin(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.exists() else (shutil.which(name) or name)
