"""Batches a container's output and sends it to the API while the script runs."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from flows.control_plane import ControlPlane
from rgrid_common.protocol import LogChunkIn

log = logging.getLogger(__name__)
MAX_CHUNK_CHARS = 64 * 1024
# One request carries at most this much log text: the API refuses bodies over 8 MB, and
# JSON escaping can make text up to six times longer.
MAX_REQUEST_BYTES = 1024 * 1024
MAX_REQUEST_CHUNKS = 500  # LogBatch allows 1000
STDERR_TAIL_CHARS = 8 * 1024
FINAL_FLUSH_TRIES = 3


@dataclass
class _Unfinished:
    """A stream's line so far, without its newline yet."""

    text: str
    since: float  # time.monotonic() of its first character


class LogShipper:
    """Thread-safe sink: ``write(stream, text)`` from reader threads, sent as it comes.

    A write wakes the sender, which sends at once unless it sent less than
    ``flush_seconds`` ago; then it waits out the rest of that interval, so a line printed
    after a pause goes out within a request's time, and a script that prints without
    pause costs the API at most one request per interval. A failed send is tried again
    an interval later.

    Every chunk gets a sequence number in arrival order; the API skips a seq it already
    holds, so resending after a failed POST never duplicates output. Consecutive writes to
    one stream share a chunk (up to ``MAX_CHUNK_CHARS``) until it is first sent; a flush
    sends requests of at most ``MAX_REQUEST_BYTES`` until nothing is pending. What waits
    in memory is bounded by ``max_chars``: output past it is dropped, with a note.

    A line is sent whole. ``print`` writes a line's text and its newline apart, and the
    engine passes each write on as it comes, the two streams' writes interleaved; so each
    stream's unfinished line waits for its newline, up to ``flush_seconds`` (then it goes
    as it is: a prompt, a progress bar). Lines take their places in the log as they are
    finished: another stream's line never lands inside one.
    """

    def __init__(self, control_plane: ControlPlane, execution_id: str, *,
                 flush_seconds: float, max_chars: int, first_seq: int = 0) -> None:
        self._control_plane = control_plane
        self._execution_id = execution_id
        self._pending: deque[LogChunkIn] = deque()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one flush at a time keeps the order
        self._seq = first_seq
        self._sent_up_to = first_seq - 1  # chunks up to this seq may be stored: never grown
        self._max_chars = max_chars
        self._kept_chars = 0
        self._truncated = False
        self._stderr_tail = ""
        self._unfinished: dict[str, _Unfinished] = {}  # by stream
        self.undelivered_chars = 0
        self._flush_seconds = flush_seconds
        self._written = threading.Event()
        self._stopped = threading.Event()
        self._sender = threading.Thread(target=self._send_as_written, name="log-shipper",
                                        daemon=True)

    def __enter__(self) -> LogShipper:
        self._sender.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stopped.set()
        self._written.set()
        self._sender.join()
        for _ in range(FINAL_FLUSH_TRIES):
            if self.flush():
                return
        with self._lock:
            self.undelivered_chars = sum(len(chunk.data) for chunk in self._pending)
        log.error("%d characters of output of %s could not be delivered",
                  self.undelivered_chars, self._execution_id)

    def note(self, text: str) -> None:
        """RGrid's own lines (dependency installs, …): in the log's stderr, after what the
        script wrote before, but never taken for the script's error."""
        with self._lock:
            self._finish_lines(older_than=0.0)
            self._append("stderr", text)
        self._written.set()

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            if stream == "stderr":
                self._stderr_tail = (self._stderr_tail + text)[-STDERR_TAIL_CHARS:]
            if text := self._whole_lines(stream, text):
                self._append(stream, text)
        if text:
            self._written.set()

    def _whole_lines(self, stream: str, text: str) -> str:
        """What of ``text`` ends a line (after the stream's unfinished line, if any); the
        rest is kept as the stream's unfinished line, unless it is a chunk's worth."""
        held = self._unfinished.pop(stream, None)
        text = held.text + text if held else text
        finished = text.rfind("\n") + 1
        rest = text[finished:]
        if not rest or len(rest) >= MAX_CHUNK_CHARS:
            return text
        since = held.since if held and not finished else time.monotonic()
        self._unfinished[stream] = _Unfinished(rest, since)
        return text[:finished]

    def _finish_lines(self, older_than: float) -> None:
        """Unfinished lines that waited ``older_than`` seconds go into the log as they
        are, the longest waiting first."""
        now = time.monotonic()
        for stream, line in sorted(self._unfinished.items(), key=lambda item: item[1].since):
            if now - line.since >= older_than:
                del self._unfinished[stream]
                self._append(stream, line.text)

    def _send_as_written(self) -> None:
        while not self._stopped.is_set():
            self._written.wait(self._flush_seconds)
            self._written.clear()
            if self._stopped.is_set():
                return
            sent_at = time.monotonic()
            self.flush()
            self._stopped.wait(max(0.0, self._flush_seconds - (time.monotonic() - sent_at)))

    def _append(self, stream: str, text: str) -> None:
        """Adds ``text`` to the pending chunks; called under the lock."""
        text = self._within_budget(stream, text)
        while text:
            last = self._pending[-1] if self._pending else None
            if (last is not None and last.stream == stream
                    and last.seq > self._sent_up_to
                    and len(last.data) < MAX_CHUNK_CHARS):
                room = MAX_CHUNK_CHARS - len(last.data)
                last.data += text[:room]
                text = text[room:]
                continue
            self._pending.append(LogChunkIn(seq=self._seq, stream=stream,
                                            data=text[:MAX_CHUNK_CHARS]))
            self._seq += 1
            text = text[MAX_CHUNK_CHARS:]

    def _within_budget(self, stream: str, text: str) -> str:
        """Output past ``max_chars`` is dropped, with one note saying so."""
        room = self._max_chars - self._kept_chars
        if len(text) <= room:
            self._kept_chars += len(text)
            return text
        if self._truncated:
            return ""
        self._truncated, self._kept_chars = True, self._max_chars
        return text[:room] + (f"\n[rgrid: output truncated after {self._max_chars:,} "
                              "characters]\n")

    @property
    def stderr_tail(self) -> str:
        return self._stderr_tail

    def flush(self) -> bool:
        """Sends what is pending, a bounded request at a time; False when a request
        failed (what it held stays pending, for the next flush)."""
        with self._send_lock:
            while batch := self._next_request():
                try:
                    self._control_plane.send_logs(self._execution_id, batch)
                except Exception:  # kept pending and retried on the next flush
                    log.warning("could not send %d log chunks of %r; will retry", len(batch),
                                self._execution_id, exc_info=True)
                    return False
                with self._lock:
                    for _ in batch:
                        self._pending.popleft()
            return True

    def _next_request(self) -> list[LogChunkIn]:
        """The oldest pending chunks that fit one request; they stop growing from now."""
        batch: list[LogChunkIn] = []
        size = 0
        with self._lock:
            self._finish_lines(older_than=0.0 if self._stopped.is_set()
                               else self._flush_seconds)
            for chunk in self._pending:
                chunk_size = len(chunk.data.encode("utf-8", "surrogatepass"))
                if batch and (size + chunk_size > MAX_REQUEST_BYTES
                              or len(batch) == MAX_REQUEST_CHUNKS):
                    break
                batch.append(chunk)
                size += chunk_size
            if batch:
                self._sent_up_to = max(self._sent_up_to, batch[-1].seq)
        return batch
