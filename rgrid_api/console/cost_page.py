"""The console's cost page: spend per day as a chart, this month against the limit, and
the breakdown by script and by a tag."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from rgrid_api.api.deps import NowDep, SessionDep
from rgrid_api.console.auth import ViewerDep
from rgrid_api.console.chart import HEIGHT, WIDTH, day_bars
from rgrid_api.console.rendering import page
from rgrid_api.services import costs, spending

router = APIRouter(tags=["console"], include_in_schema=False)
COST_DAYS = 30
CHART = {"width": WIDTH, "height": HEIGHT}


@router.get("/console/cost", response_class=HTMLResponse)
def cost_page(request: Request, viewer: ViewerDep, session: SessionDep, now: NowDep,
              tag: str = Query("", max_length=64)) -> HTMLResponse:
    """The last 30 days by day (a chart), by script and by one tag's values; this month
    against the limit."""
    since = costs.days_before(now, COST_DAYS)
    report = partial(costs.report, session, account=viewer.account, since=since, until=now)
    by_day = report(by=costs.BY_DAY)
    return page(request, "cost.html", viewer=viewer, by_day=by_day,
                bars=day_bars(by_day.rows, since.date(), now.date()),
                by_script=report(by=costs.BY_SCRIPT),
                by_tag=report(by=costs.TAG_PREFIX + tag) if tag else None, tag=tag,
                limit=spending.view(session, viewer.account, now), chart=CHART)
