"""The API process's one settings object (environment variables prefixed ``RGRID_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rgrid_common.names import BATCH_DEPLOYMENT, EXECUTE_DEPLOYMENT, SCHEDULED_BATCH_DEPLOYMENT

DEFAULT_RUNTIMES = {
    "python3.11": "rgrid/python:3.11",
    "node20": "rgrid/node:20",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RGRID_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8700
    database_url: str = "sqlite:///./rgrid.db"
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    prefect_ui_url: str | None = Field(
        None, description="Where users open the Prefect UI (links to flow runs); unset, "
                          "the API URL without its /api.")

    @property
    def flow_run_link_base(self) -> str:
        base = self.prefect_ui_url or self.prefect_api_url.removesuffix("/").removesuffix("/api")
        return f"{base.rstrip('/')}/runs/flow-run/"
    execute_deployment: str = Field(
        EXECUTE_DEPLOYMENT,
        description="Prefect deployment (flow/deployment) that runs one execution.",
    )
    batch_deployment: str = Field(
        BATCH_DEPLOYMENT,
        description="Prefect deployment that fans a batch's executions out over the pool.",
    )
    schedule_deployment: str = Field(
        SCHEDULED_BATCH_DEPLOYMENT,
        description="Prefect deployment each schedule's own deployment is made like.")
    admin_key: SecretStr | None = Field(None, description="Key that may create accounts.")
    control_token: SecretStr | None = Field(
        None, description="The control plane's secret (autoscaler, devstack): reports "
                          "nodes and issues each worker its own token. Never on a node.")
    submissions_per_minute: int = Field(
        600, ge=0, description="Runs, batches, schedules and retries an account may submit a "
                               "minute (a burst of as many); 0: no limit.")
    stream_recheck_seconds: float = Field(
        30.0, gt=0, description="A live stream is woken by each change it follows; it also "
                                "reads once after this long without one (a safety net).")
    failed_auth_per_minute: int = Field(
        60, ge=0, description="Failed authentications a client address may make a minute; "
                              "past it every credential from it answers 429.")
    runtimes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RUNTIMES),
        description="Runtime short name → container image.",
    )
    default_runtime: str = "python3.11"

    default_memory_mb: int = 512
    max_memory_mb: int = 4096
    default_disk_mb: int = Field(1024, description="What an execution's /work may hold.")
    max_disk_mb: int = 10 * 1024
    default_cpus: float = 1.0
    max_cpus: float = 4.0
    default_timeout_seconds: int = 300
    max_timeout_seconds: int = 24 * 3600
    pids_limit: int = 256
    max_script_bytes: int = 1024 * 1024
    max_request_bytes: int = 8 * 1024 * 1024

    public_url: str | None = Field(None, description="Base URL clients reach the API at.")
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path = Path("./rgrid-objects")
    storage_signing_key: SecretStr | None = Field(
        None, description="HMAC key of the local store's signed URLs.")
    storage_block: str | None = Field(
        None, description="A prefect-aws S3Bucket block holding the S3 location and "
                          "credentials; when set, it replaces the s3_* settings.")
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "rgrid"
    s3_region: str = "us-east-1"
    retention_days: int = 30
    signed_url_seconds: int = 15 * 60
    max_file_bytes: int = 5 * 1024**3
    max_execution_bytes: int = 20 * 1024**3
    max_files: int = 1000
    max_attempts: int = Field(3, description="Attempts per execution: the first and up to "
                                             "this many minus one automatic retries.")
    lost_after_seconds: float = Field(
        60, description="A running execution whose worker is silent this long is lost and "
                        "retried elsewhere.")
    max_log_chunk_bytes: int = 256 * 1024
    local_price_eur_per_hour: str = Field(
        "0.0060", description="The price of an hour of a worker the autoscaler did not make "
                              "(the single-machine default's), in euros: a Hetzner cx22's "
                              "unless set.")
    local_slots: int = Field(4, ge=1, description="Executions such a worker runs at once "
                                                  "(its price per slot-second).")
    console_session_hours: int = Field(
        12, ge=1, le=24 * 30, description="How long a console sign-in lasts.")
    close_hours_every_seconds: float = Field(
        60, gt=0, description="How often the billing hours that closed are shared out.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
