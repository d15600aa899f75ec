"""Worker nodes and the autoscaler's decisions, and what a queued execution waits for."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none
from rgrid_common.protocol import AutoscalerEventIn, NodeReport


class NodePublic(NodeReport):
    deleted_at: datetime | None = None
    updated_at: datetime

    _utc = field_validator("created_at", "worker_seen_at", "deleted_at",
                           "updated_at")(as_utc_or_none)


class AutoscalerEventPublic(AutoscalerEventIn):
    _utc = field_validator("at")(as_utc_or_none)


class NodeList(BaseModel):
    nodes: list[NodePublic]
    events: list[AutoscalerEventPublic] = Field(description="The latest first.")


class ProvisioningNode(BaseModel):
    name: str
    elapsed_seconds: int = Field(description="Since the server was created, by the API's clock.")


class CapacityProblem(BaseModel):
    code: str = Field(description="provider_quota_exceeded, provider_error or "
                                  "provider_unreachable.")
    message: str
    at: datetime

    _utc = field_validator("at")(as_utc_or_none)


class Capacity(BaseModel):
    """What a queued execution waits for: nodes being provisioned, or why none can be."""

    ready_nodes: int
    provisioning: list[ProvisioningNode]
    problem: CapacityProblem | None = None
