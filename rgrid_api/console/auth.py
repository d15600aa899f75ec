"""Who is looking at a console page: the session cookie, and the checks every form passes.

A state-changing request needs the session's CSRF token (a form field, or the
``X-CSRF-Token`` header) and, like sign-in, an Origin (or Referer) of this very site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from rgrid_api.api.deps import NowDep, SessionDep, _release_connection
from rgrid_api.core.config import Settings
from rgrid_api.models import Account
from rgrid_api.services import console_sessions
from rgrid_common.errors import Forbidden, InvalidInput, Unauthorized

COOKIE = "rgrid_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Unauthorized):
    """Shown as a redirect to the sign-in page, not as an error page."""


@dataclass
class Viewer:
    account: Account
    token: str

    @property
    def csrf(self) -> str:
        return console_sessions.csrf_token(self.token)


def current_viewer(request: Request, session: SessionDep, now: NowDep) -> Viewer:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired("You are not signed in.", console_sessions.SIGN_IN_AGAIN)
    try:
        account = console_sessions.account_for_session(session, token=token, now=now)
    except Unauthorized as exc:
        raise SignInRequired(exc.message, exc.hint) from None
    _release_connection(session)
    return Viewer(account, token)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def from_this_site(connection: HTTPConnection) -> bool:
    """Whether a request or WebSocket was sent by a page of this very site."""
    sent = connection.headers.get("origin") or connection.headers.get("referer")
    return bool(sent) and urlsplit(sent).netloc == connection.headers.get("host", "")


def same_origin(request: Request) -> None:
    """A form posted from another site is refused, whatever it carries."""
    if not from_this_site(request):
        raise Forbidden("This form was not sent from this site.",
                        "Reload the page and send the form again.")


async def form_fields(request: Request) -> dict[str, str]:
    """An HTML form's fields (urlencoded), the first value of each; none for no body."""
    body = await request.body()
    if not body:
        return {}
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        raise InvalidInput("Expected a form.", "Send the page's form.")
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("The form is too large.", "Send the page's form.")
    return {name: values[0] for name, values in
            parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def check_csrf(viewer: Viewer, request: Request, fields: dict[str, str]) -> None:
    same_origin(request)
    given = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not console_sessions.csrf_matches(viewer.token, given):
        raise Forbidden("The form's security token is missing or out of date.",
                        "Reload the page and send the form again.")


def set_session_cookie(response, token: str, *, settings: Settings,
                       request: Request) -> None:
    secure = request.url.scheme == "https" or (settings.public_url or "").startswith("https")
    response.set_cookie(COOKIE, token, max_age=settings.console_session_hours * 3600, httponly=True,
                        samesite="strict", secure=secure, path="/")
