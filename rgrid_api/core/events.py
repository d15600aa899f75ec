"""What wakes a live stream: "execution X (of batch B) changed", said when the change is
committed, heard by every API process.

A service marks what its transaction changes with ``touch``. At commit:
- on PostgreSQL, the transaction itself sends ``NOTIFY rgrid_events`` (delivered only if
  it commits, and to every API process: each keeps one ``LISTEN`` connection, in a
  thread, and hands what it hears to its ``EventBus``);
- on SQLite, the single API process hands it to its ``EventBus`` directly.

The bus wakes the streams subscribed to the execution or the batch; a stream then reads
what is new from the database. So a notification carries no data that could be lost or
reordered: at worst a stream reads once more than it needs to. No stream polls.

The same channel carries "a flow run was made for work pool P" (``work_topic``), which
wakes the workers waiting for new work (``rgrid_api.services.new_work``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
CHANNEL = "rgrid_events"
TOUCHED = "rgrid_touched"
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0)
LISTENER_NAME = "rgrid-events"  # its application_name in pg_stat_activity
WORK_PREFIX = "work:"  # a payload naming a work pool, not an execution and batch


def execution_topic(execution_id: str) -> str:
    return f"execution:{execution_id}"


def batch_topic(batch_id: str) -> str:
    return f"batch:{batch_id}"


def work_topic(pool: str) -> str:
    """A flow run was made for the work pool's workers (``rgrid_api.services.new_work``)."""
    return f"{WORK_PREFIX}{pool}"


class Subscription:
    """One stream's doorbell: ``wait`` returns once something it follows changed (or the
    timeout passed); ``take`` hands over the items changed since the last ``take``."""

    def __init__(self, bus: EventBus, topics: tuple[str, ...],
                 loop: asyncio.AbstractEventLoop) -> None:
        self._bus, self.topics, self._loop = bus, topics, loop
        self._rung = asyncio.Event()
        self._changed: set[str] = set()

    def ring(self, items: frozenset[str] = frozenset()) -> None:
        """From any thread; ``items``, the items of a batch changed together, are taken
        together. A stream whose event loop has closed hears nothing."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._ring_in_loop, items)

    def _ring_in_loop(self, items: frozenset[str]) -> None:
        self._changed.update(items)
        self._rung.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._rung.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def take(self) -> set[str]:
        self._rung.clear()
        changed, self._changed = self._changed, set()
        return changed

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class EventBus:
    """In-process fan-out from topics to the subscriptions waiting on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # A topic's generation moves on with every change heard while it has subscribers,
        # to a number never used before (one counter for all), so a read made at one
        # generation is as new as anything a subscriber can have been told.
        self._generations: dict[str, int] = {}
        self._counter = itertools.count(1)

    def generation(self, topic: str) -> int | None:
        with self._lock:
            return self._generations.get(topic)

    def subscribe(self, *topics: str) -> Subscription:
        subscription = Subscription(self, topics, asyncio.get_running_loop())
        with self._lock:
            for topic in topics:
                if topic not in self._subscribers:
                    self._generations[topic] = next(self._counter)
                self._subscribers[topic].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                waiting = self._subscribers.get(topic)
                if waiting is not None:
                    waiting.discard(subscription)
                    if not waiting:
                        del self._subscribers[topic]
                        self._generations.pop(topic, None)

    def waiting_on(self, topic: str) -> int:
        """How many subscriptions wait on ``topic``."""
        with self._lock:
            return len(self._subscribers.get(topic, ()))

    @property
    def subscriptions(self) -> int:
        with self._lock:
            return len({s for waiting in self._subscribers.values() for s in waiting})

    def publish(self, changes: Iterable[tuple[str, str | None]]) -> None:
        """``(execution_id, batch_id)`` pairs, the changes of one commit: wakes the
        executions' streams and their batches' (told which items changed). Each stream is
        rung once with all of it, so it never reads between two parts of one commit (a
        batch's stream told of the batch's end before its items' last changes would end
        without them). Thread-safe."""
        topics: dict[str, set[str]] = {}
        for execution_id, batch_id in changes:
            if execution_id:
                topics.setdefault(execution_topic(execution_id), set())
            if batch_id:
                items = topics.setdefault(batch_topic(batch_id), set())
                if execution_id:
                    items.add(execution_id)
        self._ring(topics)

    def announce_work(self, pool: str) -> None:
        """Wakes whoever waits for new work on ``pool``. Thread-safe."""
        self._ring({work_topic(pool): set()})

    def wake_everyone(self) -> None:
        """After the listener lost its connection: something may have been missed."""
        with self._lock:
            for topic in self._generations:
                self._generations[topic] = next(self._counter)
            everyone = {s for waiting in self._subscribers.values() for s in waiting}
        for subscription in everyone:
            subscription.ring()

    def _ring(self, topics: dict[str, set[str]]) -> None:
        """Each subscription of these topics, once, with the items of all it follows."""
        rings: dict[Subscription, set[str]] = defaultdict(set)
        with self._lock:
            for topic, items in topics.items():
                waiting = self._subscribers.get(topic, ())
                if waiting:
                    self._generations[topic] = next(self._counter)
                for subscription in waiting:
                    rings[subscription].update(items)
        for subscription, items in rings.items():
            subscription.ring(frozenset(items))


BUS = EventBus()  # one per process: every app and session of the process shares it


def touch(session: Session, execution_id: str, batch_id: str | None) -> None:
    """Marks an execution (and its batch) as changed by the session's transaction."""
    session.info.setdefault(TOUCHED, set()).add((execution_id, batch_id or ""))


def touch_batch(session: Session, batch_id: str) -> None:
    """A batch's own state changed (finished, cancelled)."""
    session.info.setdefault(TOUCHED, set()).add(("", batch_id))


def _encode(change: tuple[str, str]) -> str:
    return f"{change[0]} {change[1]}"


def _decode(payload: str) -> tuple[str, str]:
    execution_id, _, batch_id = payload.partition(" ")
    return execution_id, batch_id


def _deliver_notice(payload: str) -> None:
    if payload.startswith(WORK_PREFIX):
        BUS.announce_work(payload.removeprefix(WORK_PREFIX))
    else:
        _deliver_locally([_decode(payload)])


def _deliver_locally(changes: Iterable[tuple[str, str]]) -> None:
    """Never raises: it runs after a commit, which a failure here must not turn into an
    error for a request whose work is done (its streams read again within
    ``stream_recheck_seconds``)."""
    try:
        BUS.publish([(execution_id, batch_id or None) for execution_id, batch_id in changes])
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("events: could not wake the streams of %s", changes)


def install_session_hooks(factory: sessionmaker, *, postgres: bool) -> None:
    """Sessions of ``factory`` announce what they committed (see the module's docstring)."""

    @event.listens_for(factory, "before_commit")
    def _notify_in_transaction(session: Session) -> None:
        if not postgres:
            return
        for change in session.info.pop(TOUCHED, ()):
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": CHANNEL, "payload": _encode(change)})

    @event.listens_for(factory, "after_commit")
    def _deliver_after_commit(session: Session) -> None:
        if not postgres:
            _deliver_locally(session.info.pop(TOUCHED, ()))

    @event.listens_for(factory, "after_soft_rollback")
    def _forget(session: Session, _previous) -> None:
        session.info.pop(TOUCHED, None)


class PostgresListener:
    """The API process's one ``LISTEN`` connection, in a thread: what any process commits,
    this one's streams hear. Reconnects on its own; after a gap it wakes every stream."""

    def __init__(self, database_url: str) -> None:
        self._conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rgrid-events", daemon=True)

    def start(self, timeout: float = 10) -> None:
        self._thread.start()
        if not self._listening.wait(timeout):
            log.warning("events: not listening on PostgreSQL yet; streams will catch up")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._listen()
                failures = 0
            except psycopg.Error as exc:
                pause = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("events: LISTEN connection lost (%s); again in %.1f s",
                            exc, pause)
                self._stopping.wait(pause)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True,
                             application_name=LISTENER_NAME) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            BUS.wake_everyone()  # what was said while no one listened is read now
            while not self._stopping.is_set():
                for notice in connection.notifies(timeout=1.0):
                    _deliver_notice(notice.payload)
