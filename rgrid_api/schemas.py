"""Request and response bodies of the API's users: ``XCreate`` comes in, ``XPublic`` goes
out. What the workers send and receive is the wire contract in ``rgrid_common.protocol``;
the shapes it shares with users' requests are imported from there."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from rgrid_api.models import as_utc
from rgrid_common.errors import InvalidInput
from rgrid_common.protocol import SHA256, BlobRef, LogChunkIn, UploadCompletion, UploadTarget
from rgrid_common.status import ExecutionStatus
from rgrid_common.validation import Text, check_env


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AccountPublic(BaseModel):
    id: str
    name: str
    created_at: datetime


class AccountCreated(AccountPublic):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class UploadRequest(BaseModel):
    files: list[BlobRef] = Field(max_length=1000)
    force: bool = Field(False, description="Upload even what the store already holds.")


class BlobCompletion(UploadCompletion):
    sha256: str = SHA256
    encoding: Literal["identity", "gzip"] = "identity"


class UploadOffer(UploadTarget):
    sha256: str
    encoding: str
    present: bool


class UploadOffers(BaseModel):
    files: list[UploadOffer]


class InputFile(BlobRef):
    arg_indexes: list[int] = Field(min_length=1, description="The args that name this file.")
    name: Text = Field(min_length=1, max_length=255)


class ScriptSpec(BaseModel):
    """What runs, and within which limits: shared by an execution and a batch's items."""

    script_name: Text = Field(min_length=1, max_length=255)
    script_content: Text
    env: dict[Text, Text] = Field(default_factory=dict, max_length=1000)
    runtime: Text | None = Field(None, max_length=100)
    memory_mb: int | None = Field(None, gt=0)
    cpus: float | None = Field(None, gt=0, allow_inf_nan=False)
    timeout_seconds: int | None = Field(None, gt=0)
    requirements: Text | None = Field(
        None, max_length=64 * 1024,
        description="requirements.txt content: installed into a cached dependency layer.")
    use_cache: bool = Field(True, description="Serve an identical earlier success from "
                                              "the result cache instead of running.")

    @field_validator("env")
    @classmethod
    def _env_the_runtime_accepts(cls, env: dict[str, str]) -> dict[str, str]:
        """Refused here (422), not at run time after every attempt failed."""
        try:
            return check_env(env)
        except InvalidInput as exc:
            raise ValueError(f"{exc.message} {exc.hint}") from exc


class ItemSpec(BaseModel):
    args: list[Text] = Field(default_factory=list, max_length=1000)
    inputs: list[InputFile] = Field(default_factory=list, max_length=1000)


class ExecutionCreate(ScriptSpec, ItemSpec):
    pass


class BatchCreate(ScriptSpec):
    items: list[ItemSpec] = Field(min_length=1, max_length=10_000)
    parallel: int = Field(10, ge=1, le=1000, description="Items running at once, pool-wide.")
    fail_fast: bool = Field(False, description="Cancel what has not started on a failure.")


class ScheduleCreate(BaseModel):
    cron: Text | None = Field(None, max_length=120, description="Five-field cron, UTC.")
    every_seconds: int | None = Field(None, ge=10, le=366 * 24 * 3600,
                                      description="Or a fixed interval.")
    batch: BatchCreate

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleCreate:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("give exactly one of cron and every_seconds")
        return self


class SchedulePublic(BaseModel):
    id: str
    cron: str | None
    every_seconds: int | None
    script_name: str
    files: int
    parallel: int
    deployment_id: str | None
    next_run_at: datetime | None = None
    created_at: datetime

    _utc = field_validator("created_at", "next_run_at")(_as_utc)


class ScheduleList(BaseModel):
    schedules: list[SchedulePublic]


class CancelOutcome(BaseModel):
    """What ``rgrid cancel`` did to an execution or a batch."""

    id: str
    status: str = Field(description="Its status after the request.")
    cancelled: int = Field(description="Executions this request cancelled: 0 when it had "
                                       "finished already.")


class BatchPublic(BaseModel):
    id: str
    status: str
    script_name: str
    total: int
    parallel: int
    fail_fast: bool
    counts: dict[str, int] = Field(description="Items by status.")
    mean_duration_seconds: float | None = None
    flow_run_id: str | None
    retry_of: str | None = None
    schedule_id: str | None = None
    created_at: datetime
    finished_at: datetime | None

    _utc = field_validator("created_at", "finished_at")(_as_utc)


class BatchRetry(BaseModel):
    batch_id: str


class ExecutionPublic(BaseModel):
    id: str
    status: ExecutionStatus
    script_name: str
    runtime: str
    args: list[str]
    memory_mb: int
    cpus: float
    timeout_seconds: int
    exit_code: int | None
    error: str | None
    flow_run_id: str | None
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None = None
    batch_id: str | None = None
    batch_index: int | None = None
    retry_of: str | None = None
    attempt: int = 1
    retried_errors: list[str] = Field(
        default_factory=list, description="Why each earlier attempt was retried.")
    cached_from: str | None = Field(
        None, description="The earlier execution whose result this one is (not run again).")
    dependency_cache: Literal["hit", "miss"] | None = Field(
        None, description="Whether the requirements' layer was reused or built.")
    notes: list[str] = Field(default_factory=list,
                             description="What the outcome says beside its status, such as "
                                         "outputs that could not be kept.")

    _utc = field_validator("created_at", "started_at", "finished_at")(_as_utc)


class ExecutionList(BaseModel):
    executions: list[ExecutionPublic]


class LogChunkPublic(LogChunkIn):
    pass


class LogPage(BaseModel):
    chunks: list[LogChunkPublic]
    next_after: int = Field(description="Pass as ?after= to read what follows.")
    status: ExecutionStatus


class CacheCounts(BaseModel):
    hits: int
    misses: int


class ResultCacheStats(CacheCounts):
    skipped: int = Field(description="Runs asked for with --no-cache.")
    entries: int = Field(description="Succeeded executions a new one could be served from.")


class CacheStats(BaseModel):
    result: ResultCacheStats
    dependency_layer: CacheCounts


class CacheCleared(BaseModel):
    entries: int = Field(description="Result cache entries forgotten.")


class ArtifactPublic(BaseModel):
    id: str
    execution_id: str
    kind: str
    path: str
    size: int
    sha256: str
    content_type: str
    encoding: str
    created_at: datetime
    expires_at: datetime
    expired: bool
    expires_in_seconds: int = Field(description="By the server's clock; 0 once expired.")
    url: str | None = Field(None, description="Signed download URL; absent once expired.")

    _utc = field_validator("created_at", "expires_at")(_as_utc)


class ArtifactList(BaseModel):
    artifacts: list[ArtifactPublic]


class RuntimePublic(BaseModel):
    name: str
    image: str
    extensions: list[str]
    default: bool


class NodeReport(BaseModel):
    """A node as the autoscaler sees it this round."""

    name: str = Field(min_length=1, max_length=64)
    pool: str = Field(max_length=100)
    server_id: int
    server_status: str = Field(max_length=16)
    state: Literal["provisioning", "ready", "deleted"]
    created_at: datetime
    worker_seen_at: datetime | None = None
    running: int = Field(0, ge=0)
    delete_reason: str | None = Field(None, max_length=2000)


class AutoscalerEventIn(BaseModel):
    at: datetime
    kind: Literal["decision", "provision", "delete", "error"]
    node: str | None = Field(None, max_length=64)
    message: str = Field(max_length=4000)
    details: dict = Field(default_factory=dict)


class AutoscalerReport(BaseModel):
    nodes: list[NodeReport] = Field(default_factory=list, max_length=1000)
    events: list[AutoscalerEventIn] = Field(default_factory=list, max_length=1000)


class Load(BaseModel):
    """What runs where, by the RGrid database (Prefect's flow runs do not name a worker)."""

    running_by_worker: dict[str, int]
    mean_duration_seconds: float | None


class NodePublic(NodeReport):
    deleted_at: datetime | None = None
    updated_at: datetime

    _utc = field_validator("created_at", "worker_seen_at", "deleted_at", "updated_at")(_as_utc)


class AutoscalerEventPublic(AutoscalerEventIn):
    _utc = field_validator("at")(_as_utc)


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

    _utc = field_validator("at")(_as_utc)


class Capacity(BaseModel):
    """What a queued execution waits for: nodes being provisioned, or why none can be."""

    ready_nodes: int
    provisioning: list[ProvisioningNode]
    problem: CapacityProblem | None = None
