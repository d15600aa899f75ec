"""The one error hierarchy of RGrid.

Every failure a user can cause is an ``RGridError`` carrying what went wrong (``message``)
and what to do about it (``hint``). The API maps them to HTTP problems in one place, the
CLI to a Rich message and an exit code in one place.
"""

from __future__ import annotations


class RGridError(Exception):
    """Base of every user-facing error."""

    status_code = 400
    code = "rgrid_error"
    # Transient: not the user's doing and likely to pass (a worker's engine or storage
    # hiccup); an execution failing so is retried automatically.
    transient = False
    # The HTTP status the API's address answered, on the client's side (a proxy's 502 has
    # no problem body, so the class alone cannot say).
    answered_status: int | None = None

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_problem(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class InvalidInput(RGridError):
    code = "invalid_input"


class NotFound(RGridError):
    status_code = 404
    code = "not_found"


class Unauthorized(RGridError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RGridError):
    status_code = 403
    code = "forbidden"


class Conflict(RGridError):
    status_code = 409
    code = "conflict"


class SpendingLimitReached(RGridError):
    """The account's monthly spending limit is spent: new work waits for a higher limit or
    the next month; work already running finishes."""

    status_code = 402
    code = "spending_limit_reached"


class RateLimited(RGridError):
    """Too many requests of one kind: try again after ``retry_after`` seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, hint: str = "", *, retry_after: int = 1) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class ServiceUnavailable(RGridError):
    status_code = 503
    code = "service_unavailable"
    transient = True


class ApiUnreachable(RGridError):
    code = "api_unreachable"


class ApiTimeout(ApiUnreachable):
    """The API took the request but did not answer in time: it may have done the work."""

    code = "api_timeout"


class DockerUnavailable(RGridError):
    status_code = 503
    code = "docker_unavailable"
    transient = True


class ProviderError(RGridError):
    """The cloud provider answered with an error, after retries."""

    status_code = 502
    code = "provider_error"


class ProviderUnreachable(ProviderError):
    code = "provider_unreachable"


class QuotaExceeded(ProviderError):
    """The provider refuses more servers; retrying changes nothing until someone acts."""

    code = "provider_quota_exceeded"


ERRORS_BY_CODE: dict[str, type[RGridError]] = {
    cls.code: cls
    for cls in (RGridError, InvalidInput, NotFound, Unauthorized, Forbidden, Conflict,
                RateLimited, SpendingLimitReached, ServiceUnavailable, ApiUnreachable,
                ApiTimeout, DockerUnavailable, ProviderError, ProviderUnreachable,
                QuotaExceeded)
}


def error_from_problem(problem: dict) -> RGridError:
    """Rebuild the typed error an API answer describes."""
    cls = ERRORS_BY_CODE.get(problem.get("code", ""), RGridError)
    return cls(problem.get("message", "Unknown error"), problem.get("hint", ""))


def checked_answer(response):
    """An ``httpx.Response`` of the RGrid API: its JSON (None when empty) or, for an error,
    the typed error its body describes; a body that is not a problem (a proxy's page)
    still names the status."""
    if response.is_success:
        return response.json() if response.content else None
    error = error_from_problem(problem_of(response))
    error.answered_status = response.status_code
    if isinstance(error, RateLimited):
        error.retry_after = retry_after_seconds(response)
    raise error


def problem_of(response) -> dict:
    """The problem an error answer of the RGrid API describes (code, message, hint); for a
    body that is not one (a proxy's page), a message naming the status."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and isinstance(problem.get("message"), str):
        return problem
    return {"message": f"The RGrid API answered {response.status_code} "
                       f"{response.reason_phrase}."}


def retry_after_seconds(response) -> int:
    """A ``Retry-After`` of delay-seconds; anything else (absent, a date) is one second."""
    retry_after = response.headers.get("retry-after")
    return int(retry_after) if retry_after and retry_after.isdigit() else 1
