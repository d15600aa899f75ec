"""Accounts and their API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rgrid_api.core.security import display_prefix, generate_api_key, hash_api_key
from rgrid_api.models import Account, ApiKey
from rgrid_common.errors import Conflict, Unauthorized


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
                       prefix=display_prefix(key)))
    session.commit()
    return account, key


def account_for_key(session: Session, *, key: str) -> Account:
    account = session.scalar(
        select(Account).join(ApiKey, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == hash_api_key(key))
    )
    if account is None:
        raise Unauthorized("The API key is not valid.",
                           "Check the key, or run `rgrid login` with a valid one.")
    return account

