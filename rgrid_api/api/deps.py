"""Request dependencies: database session, settings, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import session_scope
from rgrid_api.core.security import secrets_equal
from rgrid_api.models import Account
from rgrid_api.services.accounts import account_for_key
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import ServiceUnavailable, Unauthorized

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


def current_account(session: SessionDep, credentials: BearerDep) -> Account:
    return account_for_key(session, key=_token(credentials))


CurrentAccount = Annotated[Account, Depends(current_account)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=r"^[A-Za-z0-9_.:-]{8,64}$",
    description="The client's key for this submission: sent again, the first one's "
                "execution or batch is answered, never a second.")]


def _require_shared_secret(expected: SecretStr | None,
                           credentials: HTTPAuthorizationCredentials | None, *,
                           name: str, setting: str) -> None:
    if expected is None:
        raise ServiceUnavailable(f"The {name} is not configured on this server.",
                                 f"Set {setting} for the API.")
    if not secrets_equal(_token(credentials), expected.get_secret_value()):
        raise Unauthorized(f"The {name} is not valid.", f"Use the API's {setting}.")


def require_admin(settings: SettingsDep, credentials: BearerDep) -> None:
    _require_shared_secret(settings.admin_key, credentials, name="admin key",
                           setting="RGRID_ADMIN_KEY")


def require_worker(settings: SettingsDep, credentials: BearerDep) -> None:
    _require_shared_secret(settings.worker_token, credentials, name="worker token",
                           setting="RGRID_WORKER_TOKEN")
