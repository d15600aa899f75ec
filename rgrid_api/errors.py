"""The one mapping of errors to HTTP problem responses."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rgrid_api.console.auth import SignInRequired
from rgrid_api.console.rendering import error_page
from rgrid_common.errors import RateLimited, RGridError, ServiceUnavailable
from rgrid_common.validation import invalid_request


def _rgrid_error(request: Request, exc: RGridError) -> Response:
    if is_console_page(request):
        return _console_error(request, exc)
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited)
               else {"Retry-After": "2"} if isinstance(exc, ServiceUnavailable) else None)
    return JSONResponse(exc.to_problem(), status_code=exc.status_code, headers=headers)


def _database_unreachable(request: Request, _exc: Exception) -> Response:
    """The database restarting or out of reach (or SQLite's lock held too long) is a 503
    with Retry-After, not a 500: nothing was committed, and clients that may send the
    request again (reads, keyed submissions, workers' reports) do."""
    return _rgrid_error(request, ServiceUnavailable(
        "The RGrid API cannot reach its database just now.",
        "It is restarting or busy; try again in a few seconds."))


def is_console_page(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith("/console/")


def _console_error(request: Request, exc: RGridError) -> Response:
    """A page, for a person: signed out goes to the sign-in page."""
    if isinstance(exc, SignInRequired):
        return RedirectResponse("/console/sign-in", status_code=303)
    return error_page(request, exc)


# What the framework itself refuses (before a route runs), said the RGrid way.
_FRAMEWORK_REFUSALS = {
    400: ("bad_request", "Send a JSON body of the shape the API documents (/docs)."),
    404: ("not_found", "See the API's routes at /docs."),
    405: ("method_not_allowed", "See the API's routes at /docs."),
}


def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Routing and body-parsing refusals as problems like every other error; the
    client's bytes (the path, the body) are never echoed."""
    code, hint = _FRAMEWORK_REFUSALS.get(exc.status_code, ("http_error", ""))
    message = {404: "No such route.",
               400: "The request body could not be parsed."}.get(exc.status_code,
                                                                  str(exc.detail))
    return JSONResponse({"code": code, "message": message, "hint": hint},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
    """The input itself is never echoed: it may be what cannot be encoded (a lone
    surrogate, NaN), and the answer must still be valid JSON."""
    refusal = invalid_request(exc.errors())
    if is_console_page(_request):
        return error_page(_request, refusal)
    return JSONResponse({**refusal.to_problem(), "errors": refusal.errors}, status_code=422)


class RequestSizeLimit:
    """Refuses a body larger than ``max_bytes`` before reading it; a body must declare its
    length (a chunked one could not be bounded without reading it). Plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` (``@app.middleware("http")``) ran every request in a task group
    of its own, ~15 % of the API's CPU in a batch (py-spy, README "Batch throughput")."""

    def __init__(self, app, *, max_bytes: int, exempt_prefix: str) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._exempt_prefix = exempt_prefix  # bounded by the signed size instead

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self._exempt_prefix):
            refusal = self._refusal(dict(scope["headers"]))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _refusal(self, headers: dict[bytes, bytes]) -> JSONResponse | None:
        declared = headers.get(b"content-length")
        if declared is None and headers.get(b"transfer-encoding"):
            problem = RGridError("The request body has no Content-Length.",
                                 "Send the body with its length.")
            return JSONResponse(problem.to_problem(), status_code=411)
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_bytes):
            problem = RGridError(f"The request body is larger than "
                                 f"{self._max_bytes // 2**20} MB.",
                                 "Send smaller scripts; data belongs in input files.")
            return JSONResponse(problem.to_problem(), status_code=413)
        return None


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RGridError, _rgrid_error)
    for unreachable in (OperationalError, InterfaceError):
        app.add_exception_handler(unreachable, _database_unreachable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
