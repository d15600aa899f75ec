"""Tells the API, while an execution runs, that its worker is alive.

The API gives an execution whose heartbeats stop to another worker (after
``RGRID_LOST_AFTER_SECONDS``). A refused heartbeat means that happened to this attempt,
or its owner cancelled it: either way the attempt's container is stopped (``on_lost``).
Once the attempt is ``ending()`` (its container gone, its report on the way), the beats
go on until the report is taken, and a refused one stops nothing: the report lands, or
hears itself that the attempt was given away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flows.control_plane import ControlPlane
from flows.periodic import Periodic

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, control_plane: ControlPlane, execution_id: str, attempt: int, *,
                 every_seconds: float, on_lost: Callable[[], None] | None = None) -> None:
        self._control_plane = control_plane
        self._on_lost = on_lost
        self._execution_id = execution_id
        self._attempt = attempt
        self.lost = threading.Event()
        self._ending = False
        self._beats = Periodic("heartbeat", every_seconds, self._beat)

    def __enter__(self) -> Heartbeat:
        self._beats.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._beats.stop()

    def ending(self) -> None:
        self._ending = True

    def _beat(self) -> None:
        """No more beats once the API refused one."""
        try:
            if self._control_plane.heartbeat(self._execution_id, self._attempt):
                return
        except Exception:  # a missed beat is harmless; the threshold is many beats
            log.warning("heartbeat of %s failed", self._execution_id, exc_info=True)
            return
        if self._ending:  # the report was taken (or will hear the attempt was given away)
            self._beats.stop_soon()
            return
        log.warning("attempt %d of %s is no longer this worker's (given to another, or "
                    "cancelled); stopping it", self._attempt, self._execution_id)
        self.lost.set()
        self._beats.stop_soon()
        if self._on_lost:
            self._on_lost()
