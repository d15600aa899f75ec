"""The console's landing page, sign-in and sign-out, and executions: thin, as every route;
what they show comes from the services."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from rgrid_api.api.deps import (GuardDep, LimiterDep, NowDep, SchedulerDep, SessionDep,
                                SettingsDep, StarterDep, StoreDep, admit_submission)
from rgrid_api.api.routes.executions import to_public
from rgrid_api.console.auth import (COOKIE, FormDep, ViewerDep, check_csrf, same_origin,
                                    set_session_cookie)
from rgrid_api.console.rendering import SECURITY_HEADERS, page
from rgrid_api.services import artifacts, console_sessions, executions, logs
from rgrid_common.errors import InvalidInput
from rgrid_common.metadata import parse_tag
from rgrid_common.status import ExecutionStatus

router = APIRouter(tags=["console"], include_in_schema=False)
PAGE_SIZE = 50
# The log's tail shown on an execution's page: with 1 MB of a 10 MB log the page is
# ready (DOMContentLoaded) in 84 ms in Chromium, with all of it in 3.7 s (README,
# Benchmarks). The whole log is a download away.
LOG_CHARS_SHOWN = 1_000_000


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    return page(request, "landing.html")


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return page(request, "sign_in.html")


@router.post("/console/sign-in")
def sign_in(request: Request, fields: FormDep, guard: GuardDep, session: SessionDep,
            settings: SettingsDep, now: NowDep) -> RedirectResponse:
    same_origin(request)
    key = fields.get("api_key", "").strip()
    if not key:
        raise InvalidInput("Enter an API key.", "`./scripts/dev up` stored one in "
                           "~/.config/rgrid/config.json; `rgrid keys create` makes more.")
    with guard.counting():
        token = console_sessions.sign_in(session, key=key, now=now,
                                         hours=settings.console_session_hours)
    response = RedirectResponse("/console/executions", status_code=303)
    set_session_cookie(response, token, settings=settings, request=request)
    return response


@router.post("/console/sign-out")
def sign_out(request: Request, fields: FormDep, viewer: ViewerDep, session: SessionDep,
             now: NowDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    console_sessions.sign_out(session, token=viewer.token, now=now)
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/console/executions", response_class=HTMLResponse)
def executions_page(request: Request, viewer: ViewerDep, session: SessionDep,
                    status: str = Query("", max_length=16),
                    batch: str = Query("", max_length=32),
                    tag: str = Query("", max_length=330),
                    since: str = Query("", max_length=10), until: str = Query("", max_length=10),
                    cursor: str | None = Query(None, max_length=200)) -> HTMLResponse:
    where = executions.ExecutionFilter(
        status=_status(status), batch_id=batch or None, since=_day(since, "From"),
        until=_day_after(until, "To"), tags=dict([parse_tag(tag)]) if tag else {})
    rows, next_cursor = executions.list_executions(session, account=viewer.account,
                                                   where=where, limit=PAGE_SIZE, cursor=cursor)
    return page(request, "executions.html", viewer=viewer,
                executions=[to_public(row) for row in rows], next_cursor=next_cursor,
                filters={"status": status, "batch": batch, "tag": tag, "since": since,
                         "until": until},
                statuses=[s.value for s in ExecutionStatus])


@router.get("/console/executions/{execution_id}", response_class=HTMLResponse)
def execution_page(request: Request, execution_id: str, viewer: ViewerDep,
                   session: SessionDep, settings: SettingsDep, store: StoreDep,
                   now: NowDep) -> HTMLResponse:
    execution = executions.get_execution(session, account=viewer.account,
                                         execution_id=execution_id)
    public = to_public(execution, settings)
    chunks, whole = logs.read_log_tail(session, execution=execution,
                                       max_chars=LOG_CHARS_SHOWN)
    files = artifacts.public_artifacts(session, store, execution=execution, kind=None,
                                       settings=settings, now=now)
    return page(request, "execution.html", viewer=viewer, execution=public, chunks=chunks,
                retried_as=executions.retries_of(session, execution),
                next_seq=chunks[-1].seq + 1 if chunks else 0,
                whole_log=whole, shown_chars=sum(len(chunk.data) for chunk in chunks),
                inputs=[f for f in files if f.kind == "input"],
                outputs=[f for f in files if f.kind == "output"])


@router.get("/console/executions/{execution_id}/log")
def log_download(execution_id: str, viewer: ViewerDep, session: SessionDep,
                 settings: SettingsDep) -> StreamingResponse:
    """All of the log as text (stdout and stderr as they were printed, together)."""
    execution = executions.get_execution(session, account=viewer.account,
                                         execution_id=execution_id)
    return StreamingResponse(
        logs.whole_log(settings.database_url, execution), media_type="text/plain; charset=utf-8",
        headers={**SECURITY_HEADERS,
                 "Content-Disposition": f'attachment; filename="{execution.id}.log"'})


@router.post("/console/executions/{execution_id}/cancel")
def cancel(request: Request, execution_id: str, fields: FormDep, viewer: ViewerDep,
           session: SessionDep, scheduler: SchedulerDep, now: NowDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    executions.cancel_execution(session, account=viewer.account, execution_id=execution_id,
                                scheduler=scheduler, now=now)
    return RedirectResponse(f"/console/executions/{execution_id}", status_code=303)


@router.post("/console/executions/{execution_id}/retry")
def retry(request: Request, execution_id: str, fields: FormDep, viewer: ViewerDep,
          session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
          starter: StarterDep, store: StoreDep, now: NowDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    admit_submission(viewer.account, settings, limiter, session, now)
    again = executions.retry_execution(session, account=viewer.account,
                                       execution_id=execution_id, settings=settings,
                                       starter=starter, store=store, now=now)
    return RedirectResponse(f"/console/executions/{again.id}", status_code=303)


@router.get("/console/artifacts/{artifact_id}/download")
def download(artifact_id: str, viewer: ViewerDep, session: SessionDep, store: StoreDep,
             settings: SettingsDep, now: NowDep) -> RedirectResponse:
    """To a signed URL made now: a page left open longer than a URL lives still works."""
    public = artifacts.artifact_for_download(session, store, account=viewer.account,
                                             artifact_id=artifact_id, settings=settings,
                                             now=now)
    return RedirectResponse(public.url, status_code=303)


def _status(value: str) -> ExecutionStatus | None:
    if not value:
        return None
    try:
        return ExecutionStatus(value)
    except ValueError:
        raise InvalidInput(f"There is no status {value!r}.",
                           "Choose one from the list.") from None


def _day_after(value: str, name: str) -> datetime | None:
    """The end of a "To" date: the day it names is in the range."""
    day = _day(value, name)
    return day + timedelta(days=1) if day else None


def _day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not a date.",
                           "Give it as YYYY-MM-DD.") from None
