"""Settings of the flow process on a worker (environment variables prefixed ``RGRID_``)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rgrid_common.names import SHARD_DEPLOYMENT


class WorkerSettings(BaseSettings):
    # On a node, the control plane's URL and token come from the file cloud-init wrote,
    # mounted into the flow run's container (work_pools/docker.py); the environment wins.
    model_config = SettingsConfigDict(env_prefix="RGRID_", extra="ignore",
                                      env_file="/etc/rgrid/worker.env")

    api_url: str = Field("http://127.0.0.1:8700", description="The RGrid API to report to.")
    worker_token: SecretStr = Field(SecretStr(""), description="Shared secret with the API.")
    worker_name: str = Field(default_factory=socket.gethostname)
    work_root: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "rgrid-work")
    docker_host: str | None = Field(
        None, description="Docker engine URL; unset means the environment's (DOCKER_HOST).")
    container_uid: int = Field(1000, description="Non-root uid the user's script runs as.")
    container_runtime: str = Field(
        "runc", pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="OCI runtime of the user containers: `runc`, or `runsc` (gVisor: the "
                    "script's system calls go to a user-space kernel) where the node's "
                    "engine has it (hetzner_autoscaler/node/docker-daemon.json).")
    batch_shard_deployment: str = Field(
        SHARD_DEPLOYMENT,
        description="What the batch flow starts, `parallel` times, to run its items.")
    log_flush_seconds: float = Field(
        0.1, gt=0, description="Output is sent as it is printed, but no more often than "
                               "this per execution.")
    heartbeat_seconds: float = Field(
        5, description="How often a running execution tells the API its worker lives; "
                       "also how soon a cancelled one is stopped.")
    max_log_chars: int = Field(16 * 1024 * 1024,
                               description="Output kept per execution; the rest is dropped.")
    package_index_url: str = Field(
        "https://pypi.org/simple",
        description="The PEP 503 index dependency layers are installed from (no "
                    "credentials in it: the URL is kept in the layer's history).")
    package_index_cert: Path | None = Field(
        None, description="CA bundle (on this host) pip trusts in dependency builds; unset, "
                          "the runtime image's own.")
    dependency_network: str = Field(
        "host", description="Docker network of dependency builds only; scripts never have "
                            "one. `host` reaches an index on 127.0.0.1.")
    allow_source_packages: bool = Field(
        False, description="Let pip build sdists. Off, only wheels are installed, so no "
                           "package code runs during the networked build.")
    dependency_build_timeout_seconds: int = 900
    lock_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "rgrid-locks",
        description="Node-wide locks (one per dependency layer being built).")
    items_as_tasks: bool = Field(
        False, description="Run each batch item as a Prefect task run of its shard, seen in "
                           "the Prefect UI; off, an item is a line of its shard's log. A "
                           "task cost ~63 ms of a batch's time and ~133 ms of CPU an item, "
                           "over the 50 ms rule (README, Batch throughput, 2026-12-07).")
