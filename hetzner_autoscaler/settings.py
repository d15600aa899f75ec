"""The autoscaler process's one settings object (environment variables prefixed ``RGRID_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hetzner_autoscaler.decisions import Policy
from hetzner_autoscaler.hetzner import ServerSpec


class AutoscalerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RGRID_", extra="ignore")

    api_url: str = Field("http://127.0.0.1:8700", description="The RGrid API.")
    control_token: SecretStr = Field(
        SecretStr(""), description="The control-plane secret: reports nodes and issues each "
                                   "node its own worker token. Never sent to a node.")
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    work_pool: str = Field("rgrid-docker", description="The pool whose queue it watches.")

    hcloud_token: SecretStr | None = None
    hcloud_token_block: str | None = Field(
        None, description="A Prefect Secret block holding the token; preferred to the "
                          "plain variable.")
    hcloud_endpoint: str = "https://api.hetzner.cloud/v1"
    hcloud_timeout_seconds: float = 15
    server_type: str = "cx22"
    server_image: str = "debian-12"
    server_location: str = "fsn1"
    fallback_price_eur_per_hour: str = Field(
        "0.0060", description="A node's hourly price when Hetzner's API gives none.")
    node_name_prefix: str = "rgrid-node"
    provider_attempts: int = 4
    provider_backoff_seconds: float = 1.0

    tick_seconds: float = Field(10, description="How often it looks and decides.")
    slots_per_node: int = 2
    max_nodes: int = 10
    drain_target_seconds: float = 300
    dead_after_seconds: float = Field(120, description="Worker silence that makes a node dead.")
    boot_timeout_seconds: float = 600
    billing_period_seconds: float = 3600
    delete_within_seconds: float = Field(
        120, description="How close to its billing hour's end an idle node is deleted.")

    # What a new node is given (cloud-init), as the node sees the control plane.
    node_prefect_api_url: str = Field("", description="Prefect API URL reachable from nodes.")
    node_prefect_auth_string: SecretStr = Field(
        SecretStr(""), description="user:password of the Prefect server's basic auth.")
    node_api_url: str = Field("", description="RGrid API URL reachable from nodes.")
    node_rgrid_package: str = Field(
        "rgrid", description="What pip installs on a node: a version or a wheel URL.")
    node_runner_image: str = Field(
        "rgrid/runner:latest", description="Built on each node at boot: what the Docker "
                                            "pool's flow runs run in.")
    node_runner_base_image: str = "python:3.11-slim"
    node_container_runtime: str = Field(
        "runsc", pattern=r"^(runc|runsc)$",
        description="OCI runtime of user containers on nodes: `runsc` (gVisor, installed by "
                    "the cloud-init; strangers' code meets a user-space kernel) or `runc`.")
    node_runtime_images: list[str] = Field(
        default_factory=lambda: ["python:3.11-slim", "node:20-slim"],
        description="Pulled at boot, so a first execution does not wait for a pull.")

    @property
    def policy(self) -> Policy:
        return Policy(slots_per_node=self.slots_per_node, max_nodes=self.max_nodes,
                      drain_target_seconds=self.drain_target_seconds,
                      dead_after_seconds=self.dead_after_seconds,
                      boot_timeout_seconds=self.boot_timeout_seconds,
                      billing_period_seconds=self.billing_period_seconds,
                      delete_within_seconds=self.delete_within_seconds)

    @property
    def server_spec(self) -> ServerSpec:
        return ServerSpec(server_type=self.server_type, image=self.server_image,
                          location=self.server_location)
