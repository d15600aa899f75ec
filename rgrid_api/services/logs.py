"""An execution's log: chunks its worker sends, lines of RGrid's own, reads by cursor."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.events import touch
from rgrid_api.models import Execution, LogChunk
from rgrid_common.errors import InvalidInput, NotFound
from rgrid_common.protocol import LogChunkIn


def read_logs(session: Session, *, execution: Execution, after: int, stream: str | None,
              limit: int) -> list[LogChunk]:
    """An execution served from the cache has the logs of the one that ran."""
    logs_of = execution.cached_from or execution.id
    query = select(LogChunk).where(LogChunk.execution_id == logs_of, LogChunk.seq > after)
    if stream is not None:
        query = query.where(LogChunk.stream == stream)
    return list(session.scalars(query.order_by(LogChunk.seq).limit(limit)))


def next_log_seq(session: Session, execution_id: str) -> int:
    """Where a new attempt's (or the API's own) log lines go: after everything stored."""
    last = session.scalar(select(func.max(LogChunk.seq))
                          .where(LogChunk.execution_id == execution_id))
    return 0 if last is None else last + 1


def add_note(session: Session, execution_id: str, text: str) -> None:
    """A line of RGrid's own in the execution's log (stderr), so `rgrid logs` tells the
    story. Only for an execution no worker is shipping logs of."""
    session.add(LogChunk(execution_id=execution_id, seq=next_log_seq(session, execution_id),
                         stream="stderr", data=text))
    session.flush()
    touch(session, execution_id, None)


def append_logs(session: Session, *, execution_id: str, chunks: list[LogChunkIn],
                settings: Settings) -> None:
    """Store log chunks; a chunk already stored (same seq, resent on retry) is skipped."""
    execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound(f"Execution {execution_id!r} not found.")
    seqs = [chunk.seq for chunk in chunks]
    known = set(session.scalars(select(LogChunk.seq).where(
        LogChunk.execution_id == execution_id, LogChunk.seq.in_(seqs))))
    for chunk in chunks:
        if chunk.seq in known:
            continue
        if len(chunk.data) > settings.max_log_chunk_bytes:
            raise InvalidInput("Log chunk too large.")
        session.add(LogChunk(execution_id=execution_id, seq=chunk.seq, stream=chunk.stream,
                             data=chunk.data))
        known.add(chunk.seq)
    touch(session, execution_id, None)
    session.commit()


