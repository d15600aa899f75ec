"""The console's schedules: each one's timing, what it runs, when it runs next and what
it fired last, and a button to delete it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from rgrid_api.api.deps import SchedulerDep, SessionDep
from rgrid_api.console.auth import FormDep, ViewerDep, check_csrf
from rgrid_api.console.rendering import page
from rgrid_api.services import schedules
from rgrid_common.errors import ServiceUnavailable

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/console/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, viewer: ViewerDep, session: SessionDep,
                   scheduler: SchedulerDep) -> HTMLResponse:
    """The next run comes from Prefect; when it cannot be reached, the page still shows
    the schedules, and says so."""
    rows = schedules.list_schedules(session, account=viewer.account)
    unreachable = None
    try:
        shown = [schedules.public_schedule(row, scheduler) for row in rows]
    except ServiceUnavailable as exc:
        unreachable = exc
        shown = [schedules.public_schedule(row, scheduler=None) for row in rows]
    return page(request, "schedules.html", viewer=viewer, unreachable=unreachable,
                schedules=[(public, schedules.latest_batch(session, row))
                           for public, row in zip(shown, rows)])


@router.post("/console/schedules/{schedule_id}/delete")
def delete(request: Request, schedule_id: str, fields: FormDep, viewer: ViewerDep,
           session: SessionDep, scheduler: SchedulerDep) -> RedirectResponse:
    check_csrf(viewer, request, fields)
    schedules.delete_schedule(session, account=viewer.account, schedule_id=schedule_id,
                              scheduler=scheduler)
    return RedirectResponse("/console/schedules", status_code=303)
