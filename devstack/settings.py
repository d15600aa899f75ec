from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cli.config import default_config_path


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RGRID_DEV_", extra="ignore",
                                      populate_by_name=True)

    home: Path = Field(default_factory=lambda: Path.home() / ".local" / "state" / "rgrid",
                       description="Databases, logs, pid files and secrets of the dev stack.")
    host: str = "127.0.0.1"
    prefect_database_url: str | None = Field(
        None, description="The Prefect server's database (postgresql+asyncpg://…); unset, "
                          "a database of its own on this machine's PostgreSQL, installed "
                          "and started if missing (SQLite did not hold the load).")
    api_database_url: str | None = Field(
        None, description="The RGrid API's database (postgresql+psycopg://…); unset, "
                          "SQLite in the dev home, the single-machine default.")
    prefect_port: int = 4200
    api_port: int = 8700
    worker_name: str = "rgrid-local-1"
    worker_limit: int = Field(4, description="Flow runs the local worker runs at once.")
    control_worker_name: str = "rgrid-control-1"
    control_worker_limit: int = Field(
        100, description="Batch coordinators and schedule firings at once: each only waits "
                         "and starts flow runs, a thread of the control worker.")
    start_worker: bool = Field(
        True, description="False leaves the pool empty (nodes an autoscaler brings serve it).")
    worker_query_seconds: float = Field(
        5, description="How often the workers poll Prefect anyway. Runs start when the API "
                       "tells the workers of them, or when a full worker frees a slot; the "
                       "poll catches what neither covers (a schedule's runs, which Prefect "
                       "makes; an announcement missed). 0.5 s cost 0.19 cores idle "
                       "(benchmarks/idle.py).")
    heartbeat_seconds: float = Field(
        5, description="How often a worker says, per running execution, that it lives "
                       "(and learns whether it was cancelled).")
    lost_after_seconds: float = Field(
        60, description="Silence after which the API retries a worker's executions elsewhere.")
    package_index_url: str = Field("https://pypi.org/simple",
                                   description="Where the worker installs requirements from.")
    package_index_cert: Path | None = Field(
        default_factory=lambda: _host_ca_bundle(),
        description="CA bundle pip trusts in dependency builds: the host's, so an index "
                    "behind the host's TLS proxy or private CA works as on the host.")
    account_name: str = "local"
    cli_config: Path = Field(default_factory=default_config_path,
                             validation_alias=AliasChoices("RGRID_CONFIG", "RGRID_DEV_CLI_CONFIG"))
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="local: a folder served by the API; s3: an S3-speaking server.")
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "rgrid"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def _host_ca_bundle() -> Path | None:
    bundle = Path(ssl.get_default_verify_paths().openssl_cafile)
    return bundle if bundle.is_file() else None
