"""The CLI's only way out: HTTP calls to the RGrid API, failures turned into typed errors."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel
from rich.markup import escape

from cli import http
from cli.config import CliSettings
from cli.output import err_console
from rgrid_common.errors import (
    ApiTimeout,
    ApiUnreachable,
    RateLimited,
    RGridError,
    Unauthorized,
    checked_answer,
)
from rgrid_common.names import WARNING_HEADER

# Nothing reached the API: any request may go again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
# No answer to a sent request: the API may have acted on it, so only a request that is
# safe twice (a read, a keyed submission) goes again.
NO_ANSWER = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError,
             httpx.ReadError, httpx.WriteError)
GATEWAY_STATUSES = {502, 503, 504}
SAFE_TWICE = {"GET", "HEAD", "OPTIONS", "PUT"}  # a PUT sets what it sets, once or twice
START_HINT = "Start it with `./scripts/dev up`, or point RGRID_API_URL at a running API."
RETRY_DELAYS = (1.0, 2.0, 4.0, 5.0)  # five attempts in all, about 12 s
RATE_LIMITED_ATTEMPTS = 4
MAX_RATE_LIMIT_WAIT_SECONDS = 60


class ApiClient:
    def __init__(self, settings: CliSettings, *, key: str | None = None,
                 require_key: bool = True, http_client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``http_client`` (one carrying the base URL) and ``sleep`` replace the real ones
        (an in-process API, a test's clock)."""
        self.api_url = settings.api_url.rstrip("/")
        token = key or (settings.api_key.get_secret_value() if settings.api_key else None)
        if require_key and not token:
            raise Unauthorized("No API key is configured.",
                               "Run `rgrid login` (or `./scripts/dev up` on a single machine), "
                               "or set RGRID_API_KEY.")
        self.auth_headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = settings.request_timeout_seconds
        self.live_transport = settings.live
        self._http = http_client or http.client(base_url=self.api_url,
                                                timeout=httpx.Timeout(self.timeout, connect=10))
        self._http.headers.update(self.auth_headers)
        self.sleep = sleep

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", path, params=clean)

    def post(self, path: str, body: dict | BaseModel) -> Any:
        return self._request("POST", path, json=_json(body))

    def submit(self, path: str, body: dict | BaseModel) -> Any:
        """POST a new execution or batch under a fresh idempotency key, so it may be sent
        again when no answer came (a timeout, a dropped connection): the API answers what
        the first request made, so a retry never makes a second one."""
        return self._request("POST", path, json=_json(body), safe_twice=True,
                             headers={"Idempotency-Key": secrets.token_urlsafe(24)})

    def put(self, path: str, body: dict | BaseModel) -> Any:
        return self._request("PUT", path, json=_json(body))

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def _request(self, method: str, path: str, *, safe_twice: bool = False,
                 **kwargs: Any) -> Any:
        """One call, tried up to five times with backoff when the connection is lost or a
        gateway answers 502/503/504, if trying again cannot do the work twice."""
        safe_twice = safe_twice or method in SAFE_TWICE
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            try:
                return self._rate_limited(method, path, **kwargs)
            except RGridError as exc:
                if not _worth_retrying(exc, safe_twice):
                    raise
                say_retrying(attempt, exc)
                self.sleep(delay)
        return self._rate_limited(method, path, **kwargs)

    def _rate_limited(self, method: str, path: str, **kwargs: Any) -> Any:
        """A 429 is waited out (``Retry-After``) and sent again, a few times: the API did
        nothing with a refused request."""
        for attempt in range(1, RATE_LIMITED_ATTEMPTS):
            try:
                return self._send(method, path, **kwargs)
            except RateLimited as exc:
                wait = min(exc.retry_after, MAX_RATE_LIMIT_WAIT_SECONDS)
                err_console.print(f"[yellow]…[/] {exc.message} Waiting {wait} s, then "
                                  f"sending it again (attempt {attempt + 1} of "
                                  f"{RATE_LIMITED_ATTEMPTS}).")
                self.sleep(wait)
        return self._send(method, path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise ApiUnreachable(f"RGrid API not reachable at {self.api_url} (no "
                                     "connection within 10 s).", START_HINT) from exc
            raise ApiTimeout(f"The API took longer than {self.timeout:g} s to answer.",
                             "It may be overloaded; see `rgrid list` for what it did, and "
                             "try again.") from exc
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"RGrid API not reachable at {self.api_url}.",
                                 START_HINT) from exc
        if warning := response.headers.get(WARNING_HEADER):
            err_console.print(f"[yellow]Warning:[/] {warning}")
        return checked_answer(response)

    def close(self) -> None:
        self._http.close()


def _worth_retrying(exc: RGridError, safe_twice: bool) -> bool:
    if isinstance(exc, ApiUnreachable):
        return isinstance(exc.__cause__, NOT_SENT) or (
            safe_twice and isinstance(exc.__cause__, NO_ANSWER))
    return safe_twice and getattr(exc, "answered_status", None) in GATEWAY_STATUSES


def say_retrying(attempt: int, exc: RGridError | None = None,
                 attempts: int = len(RETRY_DELAYS) + 1, why: str | None = None) -> None:
    """The one retry line; ``why``: what the connection said as it went, when known."""
    status = getattr(exc, "answered_status", None)
    lost = (f"The API's address answered {status}." if status in GATEWAY_STATUSES
            else exc.message if isinstance(exc, ApiTimeout)
            else f"Connection lost ({escape(why)})." if why else "Connection lost.")
    err_console.print(f"[yellow]{lost}[/] Retrying... (attempt {attempt}/{attempts})")


def _json(body: dict | BaseModel) -> dict:
    """A request body: a model of ``rgrid_common`` as the API reads it, or a plain dict."""
    return body.model_dump(mode="json") if isinstance(body, BaseModel) else body
