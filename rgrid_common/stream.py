"""The live streams' wire contract: the messages an execution's or a batch's WebSocket
sends (``/api/v1/executions/{id}/stream``, ``/api/v1/batches/{id}/stream``), and the one a
client may send first to authenticate. Defined once, here, for the API and the CLI.

An execution's stream sends every log chunk after the client's cursor (``from_seq``: the
first seq it has not seen), each status the execution reaches, and a final ``end`` with
the outcome; then it closes. A client that lost the connection reconnects with
``from_seq`` = its last seq + 1 and gets every chunk exactly once, in order.

A batch's stream starts with a ``progress`` snapshot and the items that are running or
failed most recently, then sends an ``item`` for each item status change and a
``progress`` after each change, until the batch has finished (``end``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from rgrid_common.status import BatchStatus, ExecutionStatus

AUTH_TIMEOUT_SECONDS = 10
CLOSE_NORMAL = 1000


def close_code(http_status: int) -> int:
    """A refusal closes the stream with 4000 + its HTTP status (4401, 4404, ...; the
    application's range), after an ``error`` message that says why."""
    return 4000 + http_status if 400 <= http_status < 500 else 1011


class AuthMessage(BaseModel):
    """A client that cannot set a header sends its key as the first message instead
    (never in the URL: URLs end up in logs)."""

    type: Literal["auth"] = "auth"
    api_key: str = Field(max_length=200)


class LogEvent(BaseModel):
    type: Literal["log"] = "log"
    seq: int
    stream: Literal["stdout", "stderr"]
    data: str


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    status: ExecutionStatus
    attempt: int
    worker: str | None = None


class EndEvent(BaseModel):
    """The last message of an execution's stream: every chunk was sent before it."""

    type: Literal["end"] = "end"
    status: ExecutionStatus
    exit_code: int | None = None
    error: str | None = None
    next_seq: int = Field(description="One past the last chunk's seq.")


class ErrorEvent(BaseModel):
    """Why the server closes the stream: an HTTP problem's fields and its status."""

    type: Literal["error"] = "error"
    status: int
    code: str
    message: str
    hint: str = ""


class ItemEvent(BaseModel):
    type: Literal["item"] = "item"
    id: str
    batch_index: int | None
    status: ExecutionStatus
    error: str | None = None
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    status: BatchStatus
    total: int
    counts: dict[str, int]
    mean_duration_seconds: float | None = None


class BatchEndEvent(BaseModel):
    type: Literal["batch_end"] = "batch_end"
    status: BatchStatus
    counts: dict[str, int]


StreamMessage = Annotated[
    LogEvent | StatusEvent | EndEvent | ErrorEvent | ItemEvent | ProgressEvent | BatchEndEvent,
    Field(discriminator="type")]
STREAM_MESSAGE = TypeAdapter(StreamMessage)


def read_message(text: str | bytes) -> StreamMessage:
    return STREAM_MESSAGE.validate_json(text)
