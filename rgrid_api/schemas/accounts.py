"""Accounts: the admin creates them; each gets its key once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AccountPublic(BaseModel):
    id: str
    name: str
    created_at: datetime


class AccountCreated(AccountPublic):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class ApiKeyPublic(BaseModel):
    """A key as its account sees it: never the key itself, only its first characters."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    _utc = field_validator("created_at", "expires_at", "revoked_at")(as_utc_or_none)


class ApiKeyCreated(ApiKeyPublic):
    api_key: str = Field(description="Shown once; only its hash is stored.")
