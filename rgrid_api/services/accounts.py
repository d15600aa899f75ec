"""Accounts and their API keys: created, listed, revoked, and checked on every request."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rgrid_api.core.security import display_prefix, generate_api_key, hash_api_key
from rgrid_api.models import Account, ApiKey, as_utc
from rgrid_common.errors import Conflict, NotFound, Unauthorized

FIRST_KEY_NAME = "default"


def create_account(session: Session, *, name: str) -> tuple[Account, str]:
    """Create an account with its first key; the plain key is returned once, never stored."""
    account = Account(name=name)
    key = generate_api_key()
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"An account named {name!r} already exists.",
                       "Choose another name.") from exc
    session.add(ApiKey(account_id=account.id, key_hash=hash_api_key(key),
                       prefix=display_prefix(key), name=FIRST_KEY_NAME))
    session.commit()
    return account, key


def account_for_key(session: Session, *, key: str, now: datetime) -> Account:
    """The account of a live key; 401 naming why for one unknown, revoked or expired."""
    return live_key(session, key=key, now=now)[0]


def live_key(session: Session, *, key: str, now: datetime) -> tuple[Account, ApiKey]:
    """A live key and its account; 401 naming why for one unknown, revoked or expired."""
    row = session.execute(
        select(Account, ApiKey).join(ApiKey, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == hash_api_key(key))).first()
    if row is None:
        raise Unauthorized("The API key is not valid.",
                           "Check the key, or run `rgrid login` with a valid one.")
    account, api_key = row
    ensure_live(api_key, now)
    return account, api_key


def ensure_live(api_key: ApiKey, now: datetime) -> None:
    """401 naming why, for a key revoked or expired."""
    if api_key.revoked_at is not None:
        raise Unauthorized(f"The API key {api_key.prefix}… ({api_key.name!r}) was revoked.",
                           "Use another of the account's keys (`rgrid login`).")
    if api_key.expires_at is not None and as_utc(api_key.expires_at) <= now:
        raise Unauthorized(f"The API key {api_key.prefix}… ({api_key.name!r}) expired on "
                           f"{as_utc(api_key.expires_at):%Y-%m-%d %H:%M} UTC.",
                           "Create a new one with `rgrid keys create` from a live key.")


def list_keys(session: Session, account: Account) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.account_id == account.id)
                                .order_by(ApiKey.created_at, ApiKey.id)))


def create_key(session: Session, account: Account, *, name: str,
               expires_in_days: int | None, now: datetime) -> tuple[ApiKey, str]:
    """A new key for ``account``; the plain key is returned once, never stored."""
    key = generate_api_key()
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiKey(account_id=account.id, key_hash=hash_api_key(key), prefix=display_prefix(key),
                 name=name, created_at=now, expires_at=expires_at)
    session.add(row)
    session.commit()
    return row, key


def revoke_key(session: Session, account: Account, *, key_id: str, now: datetime) -> ApiKey:
    """Revoked at once. Another account's key answers like a missing one; the account's
    last live key is kept, so the account is never locked out."""
    row = session.get(ApiKey, key_id)
    if row is None or row.account_id != account.id:
        raise NotFound(f"API key {key_id!r} not found.", "`rgrid keys list` shows your keys.")
    if row.revoked_at is not None:
        return row
    if _live_keys(session, account, now) <= 1:
        raise Conflict(f"API key {key_id!r} is the account's only live key.",
                       "Create another with `rgrid keys create` first.")
    row.revoked_at = now
    session.commit()
    return row


def _live_keys(session: Session, account: Account, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(ApiKey).where(
        ApiKey.account_id == account.id, ApiKey.revoked_at.is_(None),
        (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now)))


def get_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"Account {account_id!r} not found.",
                       "Use the id `rgrid accounts create` printed.")
    return account
