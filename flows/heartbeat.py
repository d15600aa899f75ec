"""Tells the API, while an execution runs, that its worker is alive.

The API gives an execution whose heartbeats stop to another worker (after
``RGRID_LOST_AFTER_SECONDS``). A refused heartbeat means that happened to this attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flows.control_plane import ControlPlane

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, control_plane: ControlPlane, execution_id: str, attempt: int, *,
                 every_seconds: float, on_lost: Callable[[], None] | None = None) -> None:
        self._control_plane = control_plane
        self._on_lost = on_lost
        self._execution_id = execution_id
        self._attempt = attempt
        self._every = every_seconds
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._control_plane.heartbeat(self._execution_id, self._attempt):
                    log.warning("attempt %d of %s was given to another worker; stopping it",
                                self._attempt, self._execution_id)
                    self.lost.set()
                    if self._on_lost:
                        self._on_lost()
                    return
            except Exception:  # a missed beat is harmless; the threshold is many beats
                log.warning("heartbeat of %s failed", self._execution_id, exc_info=True)
