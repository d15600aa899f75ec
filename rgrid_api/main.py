"""The FastAPI application: routes, error mapping, migrations at start."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy.exc import InterfaceError, OperationalError
from fastapi import FastAPI

from rgrid_api.api.routes import (accounts, artifacts, batches, cache, costs, executions,
                                  health, keys, metrics, nodes, runtimes, schedules, storage,
                                  streams, worker, worker_batches)
from rgrid_api import console
from rgrid_api.core.config import Settings, get_settings
from rgrid_api.core.db import (REQUEST_THREADS, STREAM_READ_THREADS, is_postgres,
                               upgrade_to_head)
from rgrid_api.core.events import PostgresListener
from rgrid_api.core.rate_limit import RateLimiter
from rgrid_api.errors import RequestSizeLimit, install_error_handlers
from rgrid_api.core.db import session_scope
from rgrid_api.models import utcnow
from rgrid_api.services import attempts, new_work
from rgrid_api.services import costs as cost_service
from rgrid_api.services.metrics import registry_for
from rgrid_api.services.flow_run_starter import FlowRunStarter
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.services.flow_runs import PrefectFlowRunScheduler
from rgrid_api.storage import build_object_store
from rgrid_api.storage.local import ROUTE as STORAGE_ROUTE
from rgrid_api.storage.local import LocalObjectStore

log = logging.getLogger(__name__)
CLEANUP_INTERVAL_SECONDS = 3600
GRACE_DAYS = 1


def create_app(settings: Settings | None = None,
               scheduler: FlowRunScheduler | None = None,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        upgrade_to_head(settings.database_url)
        await asyncio.to_thread(app.state.store.prepare, retention_days=settings.retention_days)
        listener = PostgresListener(settings.database_url) if is_postgres(
            settings.database_url) else None
        if listener:
            await asyncio.to_thread(listener.start)
        app.state.starter.start()
        background = [
            asyncio.create_task(_expire_local_objects(app.state.store, settings, clock)),
            asyncio.create_task(_sweep_attempts(app.state.scheduler, app.state.starter,
                                                settings, clock)),
            asyncio.create_task(_close_billing_hours(settings, clock))]
        yield
        for task in background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(app.state.starter.stop)
        close = getattr(app.state.scheduler, "close", None)
        if close:
            close()
        if listener:
            await asyncio.to_thread(listener.stop)
        app.state.stream_readers.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="RGrid API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.limiter = RateLimiter()
    app.state.stream_readers = ThreadPoolExecutor(STREAM_READ_THREADS,
                                                  thread_name_prefix="stream-read")
    app.state.metrics = registry_for(settings.database_url)
    app.state.store = build_object_store(settings, clock)
    app.state.scheduler = scheduler or PrefectFlowRunScheduler(
        api_url=settings.prefect_api_url, deployment_name=settings.execute_deployment,
        batch_deployment_name=settings.batch_deployment,
        schedule_deployment_name=settings.schedule_deployment,
        on_flow_run=partial(new_work.announce, settings.database_url))
    app.state.starter = FlowRunStarter(
        settings.database_url, app.state.scheduler, clock=clock,
        waited_too_long=timedelta(seconds=settings.lost_after_seconds))
    install_error_handlers(app)
    app.add_middleware(RequestSizeLimit, max_bytes=settings.max_request_bytes,
                       exempt_prefix=STORAGE_ROUTE)
    for module in (health, accounts, keys, executions, batches, schedules, artifacts,
                   runtimes, cache, costs, nodes, worker, worker_batches, storage, streams,
                   metrics):
        app.include_router(module.router)
    app.include_router(worker_batches.schedules_router)
    app.include_router(nodes.control_router)
    console.install(app)
    return app


async def _expire_local_objects(store, settings: Settings, clock) -> None:
    """The local store's retention (S3 has a lifecycle rule): hourly, delete what is older
    than the retention period plus a day of grace, so nothing goes before its recorded
    ``expires_at``."""
    if not isinstance(store, LocalObjectStore):
        return
    while True:
        cutoff = clock() - timedelta(days=settings.retention_days + GRACE_DAYS)
        removed = await asyncio.to_thread(store.delete_older_than, cutoff)
        if removed:
            log.info("retention: removed %d objects older than %s", removed, cutoff)
        await asyncio.sleep(CLEANUP_INTERVAL_SECONDS)


async def _sweep_attempts(scheduler: FlowRunScheduler, starter: FlowRunStarter,
                          settings: Settings, clock) -> None:
    """Lost executions are found within ``lost_after_seconds`` plus a quarter of it, that
    long after this API could first hear the workers: since it started, or since its
    database came back (a worker's reports meanwhile were refused, and are being sent
    again). Measured by the chaos suite: without it, PostgreSQL down 10 s sent 17 items
    of 200 to a second attempt."""
    interval = max(settings.lost_after_seconds / 4, 0.5)
    heard_since, database_away = clock(), False
    while True:
        await asyncio.sleep(interval)
        if database_away:
            heard_since = clock()
        try:
            await asyncio.to_thread(_sweep_once, scheduler, starter, settings, clock(),
                                    heard_since)
            database_away = False
        except (OperationalError, InterfaceError):
            database_away = True
            log.warning("sweeping lost executions: the database is away; trying again in "
                        "%.0f s, and judging silence only once it is back", interval)
        except Exception:  # the loop must outlive a hiccup
            log.exception("sweeping lost executions failed; trying again in %.0f s", interval)


async def _close_billing_hours(settings: Settings, clock) -> None:
    """Billing hours are shared out within ``close_hours_every_seconds`` of closing."""
    while True:
        await asyncio.sleep(settings.close_hours_every_seconds)
        try:
            await asyncio.to_thread(_close_hours_once, settings, clock())
        except Exception:  # the loop must outlive a database hiccup
            log.exception("closing billing hours failed; trying again")


def _close_hours_once(settings: Settings, now: datetime) -> None:
    for session in session_scope(settings.database_url):
        closed = cost_service.close_billing_hours(session, settings=settings, now=now)
        if closed:
            log.info("closed %d billing hours", closed)


def _sweep_once(scheduler: FlowRunScheduler, starter: FlowRunStarter, settings: Settings,
                now: datetime, heard_since: datetime) -> None:
    for session in session_scope(settings.database_url):
        handled = attempts.sweep(session, settings=settings, scheduler=scheduler,
                                 starter=starter, now=now, heard_since=heard_since)
        if handled:
            log.warning("swept (lost worker or dead flow run): %s", ", ".join(handled))
