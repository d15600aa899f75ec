"""The wire contract between the RGrid API and its workers: every body a flow sends or
receives, and the container's side of a job (its /work). Defined once, here, so that a
worker node needs only ``rgrid_common`` and the flows, never the API package."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from rgrid_common.blobs import MAX_INT32, MAX_INT64, BlobRef
from rgrid_common.inline import INLINE_MAX_CHARS, INLINE_TOTAL_BYTES
from rgrid_common.status import AutoscalerEventKind, ExecutionStatus, NodeState
from rgrid_common.validation import ProgramText, Text

WORK_DIR = "/work"  # where the script, its inputs and its outputs are, in the container


class PartTarget(BaseModel):
    number: int
    url: str


class MultipartTarget(BaseModel):
    """PUT each ``part_size`` slice of the file to its URL, then complete the upload with
    the ETags the server answered."""

    upload_id: str
    part_size: int
    parts: list[PartTarget]


class UploadTarget(BaseModel):
    """Where to send one file: a single signed PUT (``url``) or a multipart upload."""

    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    multipart: MultipartTarget | None = None


class CompletedPart(BaseModel):
    number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class UploadCompletion(BaseModel):
    upload_id: str = Field(min_length=1, max_length=1024)
    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)


class OutputCompletion(UploadCompletion):
    path: Text = Field(min_length=1, max_length=1024)
    attempt: int | None = Field(None, ge=1, le=MAX_INT32,
                                description="The claimed attempt reporting.")


class BatchPlan(BaseModel):
    """What the batch flow needs: how many items wait, how many run, and the bound."""

    batch_id: str
    parallel: int
    fail_fast: bool
    queued: int
    running: int
    cancelled: bool = False  # by its owner: the coordinator ends its flow run Cancelled
    active_shards: list[str] = Field(
        default_factory=list, description="The flow runs (shards) that have held one of its "
                                          "items in the last lost_after_seconds.")
    lost_after_seconds: float = Field(
        60, description="How long a shard may sit taken by a worker (Pending or Running) "
                        "without an item before it counts as lost with its worker.")


class CancelRequest(BaseModel):
    """The coordinator's fail-fast: why the batch's queued items will not run."""

    reason: Text = Field(max_length=2000)


class LogChunkIn(BaseModel):
    seq: int = Field(ge=0, le=MAX_INT32)
    stream: str = Field(pattern=r"^(stdout|stderr)$")
    data: ProgramText


class LogBatch(BaseModel):
    chunks: list[LogChunkIn] = Field(max_length=1000)


class ClaimRequest(BaseModel):
    flow_run_id: str = Field(min_length=1, max_length=64)
    worker: str = Field("", max_length=255,
                        description="The claiming worker; the token's own when empty.")


class NextClaim(ClaimRequest):
    """A shard's claim of its batch's next item, sent with the finish of the item before
    (``FinishRequest.then_claim``): one request between two items, not two."""

    batch_id: str = Field(min_length=1, max_length=64)


WORKER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


MAX_POOL_NAME = 128


class ShardsMade(BaseModel):
    """A batch's coordinator made shard flow runs on ``pool`` (for its waiting workers to
    be told, as of the flow runs the API makes)."""

    pool: str = Field(min_length=1, max_length=MAX_POOL_NAME)


class NewWork(BaseModel):
    """The answer to a worker waiting for new work: whether a flow run was made for its
    pool meanwhile (then it asks Prefect for its flow runs at once, not at its next poll)."""

    arrived: bool


class WorkerTokenRequest(BaseModel):
    """The control plane asks for a new worker's own token (a node it made)."""

    worker: str = Field(pattern=WORKER_NAME_PATTERN)


class WorkerTokenIssued(BaseModel):
    worker: str
    token: str


INLINE_CONTENT = Field(None, max_length=INLINE_MAX_CHARS,
                       description="A small file itself, base64 of its bytes as stored "
                                   "(rgrid_common.inline): no signed URL is needed for it.")


class InputDownload(BaseModel):
    name: str
    url: str
    sha256: str
    size: int
    encoding: str = "identity"
    content: str | None = INLINE_CONTENT


class JobSpec(BaseModel):
    """Everything a flow needs to run one execution's container."""

    execution_id: str
    inputs: list[InputDownload] = Field(default_factory=list)
    image: str
    script_name: str
    script_content: str
    command: list[str]
    env: dict[str, str]
    memory_mb: int
    disk_mb: int = Field(1024, description="What /work may hold: writes past it fail.")
    cpus: float
    pids_limit: int
    timeout_seconds: int
    attempt: int = Field(1, description="Sent back with heartbeats and the finish; a stale "
                                        "attempt's reports are refused.")
    log_seq_start: int = Field(0, description="First log seq of this attempt.")
    requirements: str | None = Field(None, description="Normalised requirements.txt, "
                                                       "installed over ``image`` first.")


class OutputFile(BlobRef):
    path: Text = Field(min_length=1, max_length=1024)
    content_type: str = Field("application/octet-stream", max_length=255)
    content: str | None = INLINE_CONTENT


class AttemptReport(BaseModel):
    attempt: int | None = Field(None, ge=1, le=MAX_INT32,
                                description="The claimed attempt reporting.")


class OutputUploadRequest(AttemptReport):
    files: list[OutputFile] = Field(max_length=1000)


class OutputUpload(UploadTarget):
    path: str


class OutputUploads(BaseModel):
    uploads: list[OutputUpload]


class GiveBackRequest(AttemptReport):
    reason: ProgramText = Field(max_length=2000)


class FinishRequest(AttemptReport):
    status: ExecutionStatus
    exit_code: int | None = Field(None, ge=-MAX_INT32 - 1, le=MAX_INT32)
    error: ProgramText | None = Field(None, max_length=20_000)
    outputs: list[OutputFile] = Field(default_factory=list, max_length=1000)
    dependency_cache: Literal["hit", "miss"] | None = None
    image_id: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$",
                                 description="The image the container ran, by content.")
    notes: list[Text] = Field(default_factory=list, max_length=100,
                              description="What the outcome should say beside the status.")
    then_claim: NextClaim | None = Field(
        None, description="Once the report is taken, claim this batch's next item: the "
        "answer is that item (200) or none may start (204), as from claim-next.")

    @model_validator(mode="after")
    def _inline_within_budget(self) -> FinishRequest:
        inline = sum(item.bytes_stored for item in self.outputs if item.content is not None)
        if inline > INLINE_TOTAL_BYTES:
            raise ValueError(f"outputs carried inline total {inline} bytes; at most "
                             f"{INLINE_TOTAL_BYTES} may be, the rest goes by upload")
        return self


# --- the autoscaler reports to the API ---------------------------------------------------


class NodeReport(BaseModel):
    """A node as the autoscaler sees it this round."""

    name: str = Field(min_length=1, max_length=64)
    pool: str = Field(max_length=100)
    server_id: int = Field(ge=0, le=MAX_INT64)
    server_status: str = Field(max_length=16)
    state: NodeState
    created_at: datetime
    worker_seen_at: datetime | None = None
    running: int = Field(0, ge=0, le=MAX_INT32)
    delete_reason: str | None = Field(None, max_length=2000)
    server_type: str | None = Field(None, max_length=32)
    price_per_hour_micros: int | None = Field(
        None, ge=0, le=MAX_INT64, description="What an hour of it costs, in micro-euros.")
    price_source: str | None = Field(None, max_length=200)
    slots: int | None = Field(None, ge=1, le=MAX_INT32)


class AutoscalerEventIn(BaseModel):
    at: datetime
    kind: AutoscalerEventKind
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
