"""Starting the flow runs of queued executions, off the request path.

A submission records its execution ``queued`` and answers at once; this starter then asks
Prefect for the execution's flow run. Why not inside the request: on this machine
Prefect's server makes 10 flow runs a second one at a time and about 16 with four at once
(`benchmarks/stream_load.py`), while clients may submit 50 a second; inside the request,
submissions queued behind Prefect until they timed out, and worker traffic queued behind
them. Here a burst waits in the database instead, and nothing is lost if the API stops:
an API process starting up, and every process now and then, picks up what has waited
too long. Two processes starting the same execution make one flow run (the execution id
and attempt are its idempotency key).

While Prefect cannot take a flow run, the waiting executions stay queued and, from the
second failure in a row, each one's log says why, once; the starter tries again with
backoff (1 s up to 15 s), and Prefect's client does not retry on its own meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rgrid_api.core.db import STARTER_THREADS, session_scope
from rgrid_api.models import Execution
from rgrid_api.services.flow_runs import FlowRunScheduler, tried_once
from rgrid_api.services.logs import add_note
from rgrid_common.errors import RGridError
from rgrid_common.status import ExecutionStatus

log = logging.getLogger(__name__)
QUEUED = ExecutionStatus.QUEUED.value
BACKOFF_SECONDS = (1, 2, 4, 8, 15)
TELL_AFTER_FAILURES = 2  # one failure in a row can be a blip (Prefect on SQLite, busy)
CATCH_UP_PAGE = 1000
CANCELLED_BEFORE_START = "cancelled by its owner (rgrid cancel) before it started"


class FlowRunStarter:
    """``wake(id)`` after committing a queued execution without a flow run (a new one, a
    retry, a next attempt); threads of this process make the flow runs in order."""

    def __init__(self, database_url: str, scheduler: FlowRunScheduler, *,
                 waited_too_long: timedelta, clock: Callable[[], datetime],
                 threads: int = STARTER_THREADS) -> None:
        self.database_url, self.scheduler = database_url, scheduler
        self.waited_too_long, self.clock, self.threads = waited_too_long, clock, threads
        self._waiting: deque[str] = deque()
        self._known: set[str] = set()  # waiting or being started here
        self._told: set[str] = set()  # whose log says why it waits, this outage
        self._failures = 0
        self._paused_until = 0.0
        self._why: RGridError | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._start_flow_runs, daemon=True,
                                          name=f"flow-run-starter-{n}")
                         for n in range(self.threads)]
        self._threads.append(threading.Thread(target=self._catch_up, daemon=True,
                                              name="flow-run-catch-up"))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def wake(self, execution_id: str) -> None:
        with self._changed:
            if execution_id in self._known:
                return
            self._known.add(execution_id)
            self._waiting.append(execution_id)
            self._changed.notify()

    def _start_flow_runs(self) -> None:
        with tried_once():
            self._start_each()

    def _start_each(self) -> None:
        while (execution_id := self._next()) is not None:
            try:
                self._start(execution_id)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
                self._failed(execution_id, exc)
                continue
            with self._changed:
                self._known.discard(execution_id)
                self._told.discard(execution_id)
                self._failures, self._why = 0, None

    def _next(self) -> str | None:
        """The next execution to start, once any pause is over; None when stopping. While
        paused, tells the newly waiting why they wait."""
        while True:
            with self._changed:
                if self._stopping.is_set():
                    return None
                pause = self._paused_until - time.monotonic()
                untold = [i for i in self._waiting if i not in self._told] if self._why else []
                if not untold and pause <= 0 and self._waiting:
                    return self._waiting.popleft()
                if not untold:
                    self._changed.wait(timeout=pause if pause > 0 else None)
                    continue
                self._told.update(untold)
                why = self._why
            self._tell(untold, why)

    def _start(self, execution_id: str) -> None:
        """Its flow run, if it is still queued without one. Again if its attempt moved on
        while Prefect made the last one (a wake meanwhile found it here already)."""
        while (attempt := self._attempt_to_start(execution_id)) is not None:
            account_id, tags, number = attempt
            flow_run_id = self.scheduler.schedule(
                execution_id=execution_id, account_id=account_id, attempt=number, tags=tags)
            for session in session_scope(self.database_url):
                recorded = session.execute(
                    update(Execution)
                    .where(Execution.id == execution_id, Execution.attempt == number,
                           Execution.flow_run_id.is_(None))
                    .values(flow_run_id=flow_run_id)
                    .returning(Execution.status, Execution.claimed_by)).first()
                session.commit()
            if recorded is None:
                continue
            if recorded.status == ExecutionStatus.CANCELLED.value and not recorded.claimed_by:
                # cancelled while Prefect made it: the cancel saw no flow run to cancel
                self.scheduler.cancel_flow_run(flow_run_id, CANCELLED_BEFORE_START)
            return

    def _attempt_to_start(self, execution_id: str) -> tuple[str, dict, int] | None:
        for session in session_scope(self.database_url):
            execution = session.get(Execution, execution_id)
            if (execution is None or execution.status != QUEUED
                    or execution.flow_run_id is not None or execution.batch_id is not None):
                return None
            return execution.account_id, execution.tags, execution.attempt
        return None

    def _failed(self, execution_id: str, exc: Exception) -> None:
        """Back to the front of the line; every thread pauses, longer each time."""
        why = exc if isinstance(exc, RGridError) else None
        if why is None:
            log.exception("starting the flow run of %s failed", execution_id)
        with self._changed:
            self._waiting.appendleft(execution_id)
            delay = BACKOFF_SECONDS[min(self._failures, len(BACKOFF_SECONDS) - 1)]
            self._failures += 1
            self._paused_until = time.monotonic() + delay
            self._why = why if self._failures >= TELL_AFTER_FAILURES else None
            self._changed.notify_all()
        log.warning("could not start the flow run of %s (%s); trying again in %d s",
                    execution_id, exc, delay)

    def _tell(self, execution_ids: list[str], why: RGridError) -> None:
        text = " ".join(filter(None, ["[rgrid] waiting for Prefect to take the run:",
                                      why.message, why.hint,
                                      "It starts when Prefect answers.\n"]))
        try:
            for session in session_scope(self.database_url):
                for execution_id in execution_ids:
                    add_note(session, execution_id, text)
                session.commit()
        except Exception:  # noqa: BLE001 - telling must not stop the starting
            log.exception("could not note why %d executions wait", len(execution_ids))

    def _catch_up(self) -> None:
        """At start, every queued execution without a flow run; then, now and then, each
        that has waited ``waited_too_long`` (its API process stopped, or a sweep queued
        its next attempt)."""
        interval = max(self.waited_too_long.total_seconds() / 4, 0.5)
        since: datetime | None = None
        while not self._stopping.is_set():
            try:
                for execution_id in self._pending(before=since):
                    self.wake(execution_id)
            except Exception:  # noqa: BLE001 - a database hiccup; the next round retries
                log.exception("looking for executions without a flow run failed")
            if self._stopping.wait(interval):
                return
            since = self.clock() - self.waited_too_long

    def _pending(self, *, before: datetime | None) -> list[str]:
        query = (select(Execution.id)
                 .where(Execution.status == QUEUED, Execution.flow_run_id.is_(None),
                        Execution.batch_id.is_(None))
                 .order_by(Execution.created_at).limit(CATCH_UP_PAGE))
        if before is not None:
            query = query.where(Execution.created_at < before)
        for session in session_scope(self.database_url):
            return list(session.scalars(query))
        return []
