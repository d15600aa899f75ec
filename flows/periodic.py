"""A call repeated on a thread of its own while an execution runs (heartbeats, log
flushes)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Calls ``tick()`` every ``every_seconds`` on a daemon thread, from ``start()`` until
    ``stop()``, which waits for a call in progress, or ``stop_soon()`` (from ``tick``
    itself)."""

    def __init__(self, name: str, every_seconds: float, tick: Callable[[], object]) -> None:
        self._every = every_seconds
        self._tick = tick
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def stop_soon(self) -> None:
        """No call after the one in progress; does not wait for it."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            self._tick()
