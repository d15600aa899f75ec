"""How every console page is made: the templates and their filters, the static files,
and the security headers each page is sent with."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from rgrid_common.errors import RGridError
from rgrid_common.limits import human_size
from rgrid_common.money import format_eur

HERE = Path(__file__).parent
STATIC_ROUTE = "/console/static"
# Everything from this origin only; no inline script or style: what a user wrote can
# never run, even if some text escaped the templates' escaping.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["eur"] = lambda micros: "" if micros is None else format_eur(micros)
templates.env.filters["filesize"] = human_size
templates.env.filters["seconds"] = lambda value: "" if value is None else f"{value:.1f} s"


def _replace_cursor(params, cursor: str | None) -> str:
    """The page's query with another cursor (none: the newest page)."""
    kept = [(name, value) for name, value in params.multi_items() if name != "cursor"]
    return urlencode(kept + ([("cursor", cursor)] if cursor else []))


templates.env.filters["replace_cursor"] = _replace_cursor


def mount_static(app) -> None:
    app.mount(STATIC_ROUTE, StaticFiles(directory=HERE / "static"), name="console-static")


def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, exc: RGridError) -> HTMLResponse:
    return page(request, "error.html", status_code=exc.status_code, error=exc)
