"""An execution's log: chunks its worker sends, lines of RGrid's own, reads by cursor."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import get_sessionmaker
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


def read_log_tail(session: Session, *, execution: Execution, max_chars: int,
                  page: int = 32) -> tuple[list[LogChunk], bool]:
    """The log's last chunks that fit in ``max_chars`` (the last one always), in order;
    and whether they are all of it. Read newest first, ``page`` chunks at a time, so a
    long log costs about what is kept."""
    logs_of = execution.cached_from or execution.id
    kept: list[LogChunk] = []
    size, before = 0, None
    while True:
        query = select(LogChunk).where(LogChunk.execution_id == logs_of)
        if before is not None:
            query = query.where(LogChunk.seq < before)
        rows = list(session.scalars(query.order_by(LogChunk.seq.desc()).limit(page)))
        for chunk in rows:
            if kept and size + len(chunk.data) > max_chars:
                return kept[::-1], False
            kept.append(chunk)
            size += len(chunk.data)
        if len(rows) < page:
            return kept[::-1], True
        before = rows[-1].seq


def whole_log(database_url: str, execution: Execution, page: int = 100) -> Iterator[str]:
    """The log's text, a page of chunks at a time, on a session of its own: it is read
    while a response streams, after the request's session has closed."""
    logs_of = execution.cached_from or execution.id
    after = -1
    with get_sessionmaker(database_url)() as session:
        while True:
            rows = session.execute(select(LogChunk.seq, LogChunk.data).where(
                LogChunk.execution_id == logs_of, LogChunk.seq > after)
                .order_by(LogChunk.seq).limit(page)).all()
            if not rows:
                return
            yield "".join(data for _, data in rows)
            after = rows[-1][0]


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


