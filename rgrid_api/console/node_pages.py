"""The console's nodes page: the worker nodes the autoscaler made, and its decisions.
Every account sees it, as `rgrid nodes`: no account's data is in it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from rgrid_api.api.deps import NowDep, SessionDep
from rgrid_api.console.auth import ViewerDep
from rgrid_api.console.rendering import page
from rgrid_api.services import nodes

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/console/nodes", response_class=HTMLResponse)
def nodes_page(request: Request, viewer: ViewerDep, session: SessionDep,
               now: NowDep) -> HTMLResponse:
    return page(request, "nodes.html", viewer=viewer,
                shown=nodes.public_nodes(session, deleted_since=now - nodes.SHOWN_AFTER_DELETION),
                capacity=nodes.capacity(session, now))
