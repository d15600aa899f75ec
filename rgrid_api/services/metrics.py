"""Prometheus metrics, read from the database at each scrape.

The database is where every API process records what happens, so any one process gives
the whole picture: no counter lives in one process's memory and resets when it restarts.
Only the open streams are this process's own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rgrid_api.core.db import get_sessionmaker
from rgrid_api.core.events import BUS
from rgrid_api.models import Execution, Node, as_utc
from rgrid_common.status import ExecutionStatus, NodeState

DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class DatabaseCollector:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    def collect(self) -> Iterator[Metric]:
        with get_sessionmaker(self._database_url)() as session:
            yield from _executions(session)
            yield _durations(session)
            yield from _caches(session)
            yield _nodes(session)
        streams = GaugeMetricFamily("rgrid_open_streams",
                                    "Live streams open on this API process.")
        streams.add_metric([], BUS.subscriptions)
        yield streams


def registry_for(database_url: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(database_url))
    return registry


def _executions(session: Session) -> Iterator[Metric]:
    counts = dict(session.execute(select(Execution.status, func.count())
                                  .group_by(Execution.status)).all())
    by_status = GaugeMetricFamily("rgrid_executions", "Executions by status.",
                                  labels=["status"])
    for status in ExecutionStatus:
        by_status.add_metric([status.value], counts.get(status.value, 0))
    yield by_status
    queue = GaugeMetricFamily("rgrid_queue_depth", "Executions queued, waiting for a worker.")
    queue.add_metric([], counts.get(ExecutionStatus.QUEUED.value, 0))
    yield queue
    waiting = GaugeMetricFamily(
        "rgrid_flow_runs_waiting", "Queued executions whose Prefect flow run the API's "
                                   "starter has not made yet (a backlog, or Prefect down).")
    waiting.add_metric([], session.scalar(select(func.count()).select_from(Execution).where(
        Execution.status == ExecutionStatus.QUEUED.value, Execution.flow_run_id.is_(None),
        Execution.batch_id.is_(None))))
    yield waiting


def _durations(session: Session) -> Metric:
    """Run time (start to finish) of every finished execution that ran."""
    rows = session.execute(select(Execution.started_at, Execution.finished_at).where(
        Execution.started_at.is_not(None), Execution.finished_at.is_not(None)))
    per_bucket = [0] * (len(DURATION_BUCKETS) + 1)
    total = 0.0
    for started, finished in rows:
        seconds = max((as_utc(finished) - as_utc(started)).total_seconds(), 0.0)
        per_bucket[bisect_left(DURATION_BUCKETS, seconds)] += 1
        total += seconds
    cumulative, buckets = 0, []
    for bound, count in zip((*map(str, DURATION_BUCKETS), "+Inf"), per_bucket):
        cumulative += count
        buckets.append((bound, cumulative))
    histogram = HistogramMetricFamily("rgrid_execution_duration_seconds",
                                      "Run time of finished executions.")
    histogram.add_metric([], buckets, sum_value=total)
    return histogram


def _caches(session: Session) -> Iterator[Metric]:
    for column, name, what in (
            (Execution.result_cache, "rgrid_result_cache_lookups",
             "Result-cache lookups by outcome (a hit is answered without running)."),
            (Execution.dependency_cache, "rgrid_dependency_cache_lookups",
             "Dependency-layer lookups by outcome (a miss builds the layer).")):
        counts = dict(session.execute(select(column, func.count()).where(
            column.in_(["hit", "miss"])).group_by(column)).all())
        family = CounterMetricFamily(name, what, labels=["outcome"])
        for outcome in ("hit", "miss"):
            family.add_metric([outcome], counts.get(outcome, 0))
        yield family


def _nodes(session: Session) -> Metric:
    counts = dict(session.execute(select(Node.state, func.count())
                                  .group_by(Node.state)).all())
    family = GaugeMetricFamily("rgrid_nodes", "Worker nodes by state.", labels=["state"])
    for state in NodeState:
        family.add_metric([state.value], counts.get(state.value, 0))
    return family
