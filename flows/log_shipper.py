"""Batches a container's output and sends it to the API while the script runs."""

from __future__ import annotations

import logging
import threading
from collections import deque

from flows.control_plane import ControlPlane
from rgrid_common.protocol import LogChunkIn

log = logging.getLogger(__name__)
MAX_CHUNK_CHARS = 64 * 1024
STDERR_TAIL_CHARS = 8 * 1024


class LogShipper:
    """Thread-safe sink: ``write(stream, text)`` from reader threads, flushed periodically.

    Every chunk gets a sequence number in arrival order; the API skips a seq it already
    holds, so resending after a failed POST never duplicates output.
    """

    def __init__(self, control_plane: ControlPlane, execution_id: str, *,
                 flush_seconds: float, max_chars: int, first_seq: int = 0) -> None:
        self._control_plane = control_plane
        self._execution_id = execution_id
        self._flush_seconds = flush_seconds
        self._pending: deque[LogChunkIn] = deque()
        self._lock = threading.Lock()
        self._seq = first_seq
        self._max_chars = max_chars
        self._kept_chars = 0
        self._stderr_tail = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)

    def __enter__(self) -> LogShipper:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()

    def note(self, text: str) -> None:
        """RGrid's own lines (dependency installs, …): in the log's stderr, but never
        taken for the script's error."""
        self._append("stderr", text)

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            if stream == "stderr":
                self._stderr_tail = (self._stderr_tail + text)[-STDERR_TAIL_CHARS:]
        self._append(stream, text)

    def _append(self, stream: str, text: str) -> None:
        with self._lock:
            text = self._within_budget(stream, text)
            for start in range(0, len(text), MAX_CHUNK_CHARS):
                self._pending.append(LogChunkIn(seq=self._seq, stream=stream,
                                                data=text[start:start + MAX_CHUNK_CHARS]))
                self._seq += 1

    def _within_budget(self, stream: str, text: str) -> str:
        """Output past ``max_chars`` is dropped, with one note saying so."""
        room = self._max_chars - self._kept_chars
        if room <= 0:
            return ""
        self._kept_chars += len(text)
        if len(text) <= room:
            return text
        return text[:room] + (f"\n[rgrid: output truncated after {self._max_chars:,} "
                              "characters]\n")

    @property
    def stderr_tail(self) -> str:
        return self._stderr_tail

    def flush(self) -> None:
        with self._lock:
            batch = list(self._pending)
        if not batch:
            return
        try:
            self._control_plane.send_logs(self._execution_id, batch)
        except Exception:  # kept pending and retried on the next flush
            log.warning("could not send %d log chunks of %r; will retry", len(batch),
                        self._execution_id, exc_info=True)
            return
        with self._lock:
            for _ in batch:
                self._pending.popleft()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()
