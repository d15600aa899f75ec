"""The console's batches: the list, and a batch's page with its progress live, its items,
its failures with their errors, and buttons to cancel it and to retry what failed."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from rgrid_api.api.deps import (LimiterDep, NowDep, SchedulerDep, SessionDep, SettingsDep,
                                StoreDep, admit_submission)
from rgrid_api.console.auth import FormDep, ViewerDep, check_csrf
from rgrid_api.console.rendering import page
from rgrid_api.services import batches

router = APIRouter(tags=["console"], include_in_schema=False)
PAGE_SIZE = 50
ITEMS_SHOWN = 100
FAILURES_SHOWN = 50


@router.get("/console/batches", response_class=HTMLResponse)
def batches_page(request: Request, viewer: ViewerDep, session: SessionDep,
                 cursor: str | None = Query(None, max_length=200)) -> HTMLResponse:
    rows, next_cursor = batches.list_batches(session, account=viewer.account,
                                             limit=PAGE_SIZE, cursor=cursor)
    return page(request, "batches.html", viewer=viewer,
                summaries=batches.summaries(session, rows), next_cursor=next_cursor)


@router.get("/console/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, batch_id: str, viewer: ViewerDep, session: SessionDep,
               settings: SettingsDep,
               first: int = Query(0, ge=0, le=10_000_000)) -> HTMLResponse:
    batch = batches.get_batch(session, account=viewer.account, batch_id=batch_id)
    public = batches.public_batch(session, batch)
    return page(request, "batch.html", viewer=viewer, batch=public, tags=batch.tags,
                ended=batches.ended_count(public.counts),
                failures=batches.failures(session, batch, limit=FAILURES_SHOWN),
                items=batches.items_from(session, batch, first=first, limit=ITEMS_SHOWN),
                first=first, items_shown=ITEMS_SHOWN,
                flow_run_url=(settings.flow_run_link_base + batch.flow_run_id
                              if batch.flow_run_id else None))


@router.post("/console/batches/{batch_id}/cancel")
def cancel(request: Request, batch_id: str, fields: FormDep, viewer: ViewerDep,
           session: SessionDep, now: NowDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    batches.cancel_batch(session, account=viewer.account, batch_id=batch_id, now=now)
    return RedirectResponse(f"/console/batches/{batch_id}", status_code=303)


@router.post("/console/batches/{batch_id}/retry-failed")
def retry_failed(request: Request, batch_id: str, fields: FormDep, viewer: ViewerDep,
                 session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
                 scheduler: SchedulerDep, store: StoreDep, now: NowDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    admit_submission(viewer.account, settings, limiter, session, now)
    again = batches.retry_failed(session, account=viewer.account, batch_id=batch_id,
                                 settings=settings, scheduler=scheduler, store=store, now=now)
    return RedirectResponse(f"/console/batches/{again.id}", status_code=303)
