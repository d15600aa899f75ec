"""The FastAPI application: routes, error mapping, migrations at start."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from rgrid_api.api.routes import accounts, executions, health, runtimes, worker
from rgrid_api.core.config import Settings, get_settings
from rgrid_api.core.db import upgrade_to_head
from rgrid_api.errors import install_error_handlers, limit_request_size
from rgrid_api.services.executions import FlowRunScheduler
from rgrid_api.services.flow_runs import PrefectFlowRunScheduler


def create_app(settings: Settings | None = None,
               scheduler: FlowRunScheduler | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        upgrade_to_head(settings.database_url)
        yield
        close = getattr(app.state.scheduler, "close", None)
        if close:
            close()

    app = FastAPI(title="RGrid API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.scheduler = scheduler or PrefectFlowRunScheduler(
        api_url=settings.prefect_api_url, deployment_name=settings.execute_deployment)
    install_error_handlers(app)
    limit_request_size(app, settings.max_request_bytes)
    for module in (health, accounts, executions, runtimes, worker):
        app.include_router(module.router)
    return app
