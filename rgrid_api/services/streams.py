"""What a live stream sends next: read from the database each time the stream's
subscription rings (``rgrid_api.core.events``), from where the stream stands.

A step reads the status before the chunks: a finished status then guarantees that every
chunk the worker sent is in this read or an earlier one, so ``end`` follows the last one.
"""

from __future__ import annotations

import threading
from datetime import datetime
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Execution, as_utc
from rgrid_api.services import batches, executions, logs
from rgrid_common.errors import NotFound
from rgrid_common.status import BatchStatus, ExecutionStatus
from rgrid_common.stream import (BatchEndEvent, EndEvent, ItemEvent, LogEvent, ProgressEvent,
                                 StatusEvent)

CHUNKS_PER_STEP = 500
SNAPSHOT_FAILURES = 10


@dataclass
class ExecutionCursor:
    next_seq: int = 0
    last_status: tuple[str, int] | None = None  # (status, attempt) last sent
    checked: bool = False  # the account may see the execution
    ended: bool = False


@dataclass(frozen=True)
class ExecutionRead:
    """What one read found: the execution's state, then its chunks after a cursor."""

    status: ExecutionStatus
    attempt: int
    worker: str | None
    exit_code: int | None
    error: str | None
    chunks: tuple[LogEvent, ...]


class SharedReads:
    """The followers of one execution, woken by the same change, read the database once:
    a read is kept under (execution, cursor, the change's generation), and a follower at
    the same cursor after the same change takes it. A later change has a new generation,
    so nothing older than what woke a follower is ever served to it."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._reads: OrderedDict[tuple, ExecutionRead] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, read: Callable[[], ExecutionRead]) -> ExecutionRead:
        with self._lock:
            if key in self._reads:
                return self._reads[key]
        found = read()
        with self._lock:
            self._reads[key] = found
            while len(self._reads) > self._size:
                self._reads.popitem(last=False)
        return found


SHARED_READS = SharedReads()


def execution_step(session: Session, *, account: Account, execution_id: str,
                   cursor: ExecutionCursor, generation: int | None = None) -> list[BaseModel]:
    """What the stream has not sent yet; ``cursor`` moves past it. After the ``end``
    message, ``cursor.ended`` is set. Another account's execution is not found (checked
    on the first step, from the database). ``generation``: the change that woke the
    stream, to share the read with its other followers (None: read alone)."""
    if not cursor.checked:
        executions.get_execution(session, account=account, execution_id=execution_id)
        cursor.checked = True

    def read() -> ExecutionRead:
        return _read(session, execution_id, after=cursor.next_seq - 1)

    found = (read() if generation is None
             else SHARED_READS.get((execution_id, cursor.next_seq, generation), read))
    messages: list[BaseModel] = []
    if (found.status.value, found.attempt) != cursor.last_status:
        cursor.last_status = (found.status.value, found.attempt)
        messages.append(StatusEvent(status=found.status, attempt=found.attempt,
                                    worker=found.worker))
    messages += found.chunks
    if found.chunks:
        cursor.next_seq = found.chunks[-1].seq + 1
    if found.status.is_finished and len(found.chunks) < CHUNKS_PER_STEP:
        cursor.ended = True
        messages.append(EndEvent(status=found.status, exit_code=found.exit_code,
                                 error=found.error, next_seq=cursor.next_seq))
    return messages


def _read(session: Session, execution_id: str, *, after: int) -> ExecutionRead:
    """The status first, then the chunks (see the module's docstring)."""
    execution = session.get(Execution, execution_id)
    if execution is None:  # deleted with its account while followed
        raise NotFound(f"Execution {execution_id!r} not found.")
    chunks = logs.read_logs(session, execution=execution, after=after, stream=None,
                            limit=CHUNKS_PER_STEP)
    return ExecutionRead(status=ExecutionStatus(execution.status), attempt=execution.attempt,
                         worker=execution.worker, exit_code=execution.exit_code,
                         error=execution.error,
                         chunks=tuple(LogEvent(seq=c.seq, stream=c.stream, data=c.data)
                                      for c in chunks))


@dataclass
class BatchCursor:
    opened_at: datetime  # items that ended since are all told before the batch's end
    sent: dict[str, tuple[str, int]] = field(default_factory=dict)  # item → (status, attempt)
    progress: ProgressEvent | None = None  # the last sent
    ended: bool = False


def item_event(item: Execution) -> ItemEvent:
    return ItemEvent(id=item.id, batch_index=item.batch_index, status=item.status,
                     error=item.error, worker=item.worker,
                     started_at=as_utc(item.started_at) if item.started_at else None,
                     finished_at=as_utc(item.finished_at) if item.finished_at else None)


def batch_snapshot(session: Session, *, account: Account, batch_id: str,
                   cursor: BatchCursor) -> list[BaseModel]:
    """Where a batch stands: its counts, its running items, its newest failures."""
    batch = batches.get_batch(session, account=account, batch_id=batch_id)
    running = session.scalars(select(Execution).where(
        Execution.batch_id == batch.id, Execution.status == ExecutionStatus.RUNNING.value)
        .order_by(Execution.batch_index))
    failed = session.scalars(select(Execution).where(
        Execution.batch_id == batch.id,
        Execution.status.in_([ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value]))
        .order_by(Execution.finished_at.desc()).limit(SNAPSHOT_FAILURES))
    items = [*reversed(list(failed)), *running]
    return [*_items(items, cursor), *_progress(session, batch, cursor)]


def batch_step(session: Session, *, account: Account, batch_id: str, changed: set[str],
               cursor: BatchCursor) -> list[BaseModel]:
    """The items that changed since the last step, then the counts. Once the batch has
    ended, every item that ended since the stream opened and was not told yet is told
    first: the wake-ups of one commit may reach the stream apart, and it must not close
    on the batch's end before its items' last changes."""
    batch = batches.get_batch(session, account=account, batch_id=batch_id)
    told = Execution.id.in_(changed) if changed else false()
    if BatchStatus(batch.status).is_finished:
        told = or_(told, Execution.finished_at >= cursor.opened_at)
    items = session.scalars(select(Execution).where(Execution.batch_id == batch.id, told)
                            .order_by(Execution.batch_index))
    return [*_items(items, cursor), *_progress(session, batch, cursor)]


def _items(items, cursor: BatchCursor) -> list[BaseModel]:
    messages: list[BaseModel] = []
    for item in items:
        state = (item.status, item.attempt)
        if cursor.sent.get(item.id) != state:
            cursor.sent[item.id] = state
            messages.append(item_event(item))
    return messages


def _progress(session: Session, batch, cursor: BatchCursor) -> list[BaseModel]:
    """The counts, when they changed; the end, once the batch has finished."""
    counted = batches.batch_progress(session, batch)
    progress = ProgressEvent(status=batch.status, total=batch.total, counts=counted.counts,
                             mean_duration_seconds=counted.mean_duration_seconds)
    if progress == cursor.progress:
        return []
    cursor.progress = progress
    messages: list[BaseModel] = [progress]
    if BatchStatus(batch.status).is_finished:
        cursor.ended = True
        messages.append(BatchEndEvent(status=batch.status, counts=counted.counts))
    return messages
