"""Request dependencies: database session, settings, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import session_scope
from rgrid_api.core.rate_limit import FAILED_SIGN_IN, RateLimiter
from rgrid_api.core.security import secrets_equal
from rgrid_api.models import Account
from rgrid_api.services import spending, worker_tokens
from rgrid_api.services.accounts import account_for_key
from rgrid_api.services.flow_run_starter import FlowRunStarter
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import RateLimited, ServiceUnavailable, Unauthorized
from rgrid_common.names import WARNING_HEADER

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    yield from session_scope(settings.database_url)


SessionDep = Annotated[Session, Depends(get_session)]


def get_scheduler(request: Request) -> FlowRunScheduler:
    return request.app.state.scheduler


SchedulerDep = Annotated[FlowRunScheduler, Depends(get_scheduler)]


def get_starter(request: Request) -> FlowRunStarter:
    return request.app.state.starter


StarterDep = Annotated[FlowRunStarter, Depends(get_starter)]


def get_store(request: Request) -> ObjectStore:
    return request.app.state.store


StoreDep = Annotated[ObjectStore, Depends(get_store)]


def get_now(request: Request) -> datetime:
    """The current time, from the app's clock (injectable, e.g. to test expiry)."""
    return request.app.state.clock()


NowDep = Annotated[datetime, Depends(get_now)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized("No API key was sent.",
                           "Run `rgrid login` or set RGRID_API_KEY.")
    return credentials.credentials


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


@dataclass
class SignInGuard:
    """Failed authentication per client address: past the limit every credential from it
    answers 429 without being checked, so guessing keys gets nowhere fast."""

    limiter: RateLimiter
    address: str
    per_minute: int

    def admit(self) -> None:
        self.limiter.take(FAILED_SIGN_IN, self.address, self.per_minute,
                          "failed authentications from this address", use=False)

    @contextmanager
    def counting(self) -> Iterator[None]:
        try:
            yield
        except Unauthorized:
            with suppress(RateLimited):
                self.limiter.take(FAILED_SIGN_IN, self.address, self.per_minute, "")
            raise


def sign_in_guard(request: Request, settings: SettingsDep, limiter: LimiterDep) -> SignInGuard:
    guard = SignInGuard(limiter, request.client.host if request.client else "unknown",
                        settings.failed_auth_per_minute)
    guard.admit()
    return guard


GuardDep = Annotated[SignInGuard, Depends(sign_in_guard)]


def current_account(session: SessionDep, credentials: BearerDep, now: NowDep,
                    guard: GuardDep) -> Account:
    key = _token(credentials)
    with guard.counting():
        account = account_for_key(session, key=key, now=now)
    _release_connection(session)
    return account


def _release_connection(session: Session) -> None:
    """Ends the session's transaction, so its connection goes back to the pool: a request
    that has passed authentication may wait a long time for a thread to run its route in,
    and must not hold a connection meanwhile (under load, every connection would be held
    by such requests and the routes that run could get none)."""
    session.commit()


CurrentAccount = Annotated[Account, Depends(current_account)]


def submission_allowed(account: CurrentAccount, settings: SettingsDep, limiter: LimiterDep,
                       session: SessionDep, now: NowDep, response: Response) -> None:
    """Runs, batches, schedules and retries: ``RGRID_SUBMISSIONS_PER_MINUTE`` an account,
    within its spending limit (refused past it; warned past 80 %, in a header)."""
    warning = admit_submission(account, settings, limiter, session, now)
    _release_connection(session)
    if warning:
        response.headers[WARNING_HEADER] = warning


def admit_submission(account: Account, settings: Settings, limiter: RateLimiter,
                     session: Session, now: datetime) -> str | None:
    """Refuses past the account's rate or spending limit; the warning past 80 % of it."""
    limiter.take("submission", account.id, settings.submissions_per_minute, "submissions")
    return spending.check_submission(session, account, now)


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=r"^[A-Za-z0-9_.:-]{8,64}$",
    description="The client's key for this submission: sent again, the first one's "
                "execution or batch is answered, never a second.")]


def _require_shared_secret(expected: SecretStr | None,
                           credentials: HTTPAuthorizationCredentials | None,
                           guard: SignInGuard, *, name: str, setting: str) -> None:
    if expected is None:
        raise ServiceUnavailable(f"The {name} is not configured on this server.",
                                 f"Set {setting} for the API.")
    given = _token(credentials)
    with guard.counting():
        if not secrets_equal(given, expected.get_secret_value()):
            raise Unauthorized(f"The {name} is not valid.", f"Use the API's {setting}.")


def require_admin(settings: SettingsDep, credentials: BearerDep, guard: GuardDep) -> None:
    _require_shared_secret(settings.admin_key, credentials, guard, name="admin key",
                           setting="RGRID_ADMIN_KEY")


def require_control_plane(settings: SettingsDep, credentials: BearerDep,
                          guard: GuardDep) -> None:
    """The autoscaler and the devstack: they report nodes and issue workers' tokens."""
    _require_shared_secret(settings.control_token, credentials, guard,
                           name="control-plane token", setting="RGRID_CONTROL_TOKEN")


def current_worker(session: SessionDep, credentials: BearerDep, guard: GuardDep) -> str:
    """The worker whose own token was sent (never the control-plane token)."""
    token = _token(credentials)
    with guard.counting():
        worker = worker_tokens.worker_for_token(session, token)
    _release_connection(session)
    return worker


CurrentWorker = Annotated[str, Depends(current_worker)]
