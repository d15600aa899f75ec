"""What a live stream sends next: read from the database each time the stream's
subscription rings (``rgrid_api.core.events``), from where the stream stands.

A step reads the status before the chunks: a finished status then guarantees that every
chunk the worker sent is in this read or an earlier one, so ``end`` follows the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Execution, as_utc
from rgrid_api.services import batches, executions, logs
from rgrid_common.status import BatchStatus, ExecutionStatus
from rgrid_common.stream import (BatchEndEvent, EndEvent, ItemEvent, LogEvent, ProgressEvent,
                                 StatusEvent)

CHUNKS_PER_STEP = 500
SNAPSHOT_FAILURES = 10


@dataclass
class ExecutionCursor:
    next_seq: int = 0
    last_status: tuple[str, int] | None = None  # (status, attempt) last sent
    ended: bool = False


def execution_step(session: Session, *, account: Account, execution_id: str,
                   cursor: ExecutionCursor) -> list[BaseModel]:
    """What the stream has not sent yet; ``cursor`` moves past it. After the ``end``
    message, ``cursor.ended`` is set. Another account's execution is not found."""
    execution = executions.get_execution(session, account=account, execution_id=execution_id)
    status = ExecutionStatus(execution.status)
    messages: list[BaseModel] = []
    if (status.value, execution.attempt) != cursor.last_status:
        cursor.last_status = (status.value, execution.attempt)
        messages.append(StatusEvent(status=status, attempt=execution.attempt,
                                    worker=execution.worker))
    chunks = logs.read_logs(session, execution=execution, after=cursor.next_seq - 1,
                            stream=None, limit=CHUNKS_PER_STEP)
    messages += [LogEvent(seq=c.seq, stream=c.stream, data=c.data) for c in chunks]
    if chunks:
        cursor.next_seq = chunks[-1].seq + 1
    if status.is_finished and len(chunks) < CHUNKS_PER_STEP:
        cursor.ended = True
        messages.append(EndEvent(status=status, exit_code=execution.exit_code,
                                 error=execution.error, next_seq=cursor.next_seq))
    return messages


@dataclass
class BatchCursor:
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
    """The items that changed since the last step, then the counts."""
    batch = batches.get_batch(session, account=account, batch_id=batch_id)
    items = session.scalars(select(Execution).where(
        Execution.batch_id == batch.id, Execution.id.in_(changed))
        .order_by(Execution.batch_index)) if changed else []
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
    public = batches.public_batch(session, batch)
    progress = ProgressEvent(status=public.status, total=public.total, counts=public.counts,
                             mean_duration_seconds=public.mean_duration_seconds)
    if progress == cursor.progress:
        return []
    cursor.progress = progress
    messages: list[BaseModel] = [progress]
    if BatchStatus(public.status).is_finished:
        cursor.ended = True
        messages.append(BatchEndEvent(status=public.status, counts=public.counts))
    return messages
