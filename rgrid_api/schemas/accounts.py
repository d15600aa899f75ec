"""Accounts: the admin creates them; each gets its key once."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AccountPublic(BaseModel):
    id: str
    name: str
    created_at: datetime


class AccountCreated(AccountPublic):
    api_key: str = Field(description="Shown once; only its hash is stored.")
