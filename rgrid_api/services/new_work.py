"""Telling a pool's workers that a flow run was made for them, so they ask Prefect now.

A Prefect worker finds its flow runs by polling its work pool; on the single-machine
default every 0.5 s, so a run waited 0.16 s (p50; up to 0.5 s) before anything started it
(README, Benchmarks: latency). The API makes every execution's flow run (and every batch
coordinator's) itself, so it knows the moment one exists: it announces the pool, and the
warm workers listening on the ``/api/v1/worker/new-work`` stream poll Prefect at once.
Prefect stays the queue: an announcement carries no flow run, so a worker that misses one
(its stream reconnecting, the API restarting) takes the flow run at its next poll, and
two workers told together are told apart by Prefect's state orchestration, exactly as
when they poll.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from rgrid_api.core.db import is_postgres, session_scope
from rgrid_api.core.events import BUS, CHANNEL, work_topic

log = logging.getLogger(__name__)


def announce(database_url: str, pool: str) -> None:
    """To the waiting workers of every API process (on PostgreSQL, by NOTIFY; on SQLite
    there is one process). Never raises: the flow run exists whether or not anyone hears."""
    try:
        if not is_postgres(database_url):
            BUS.announce_work(pool)
            return
        for session in session_scope(database_url):
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": CHANNEL, "payload": work_topic(pool)})
            session.commit()
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("could not announce new work on pool %r", pool, exc_info=True)

