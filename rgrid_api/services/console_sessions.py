"""Console sign-in: an API key, given once in a form, becomes a session whose random token
lives only in an HttpOnly cookie; the database keeps the token's SHA-256. A session ends at
its expiry, on sign-out, or as soon as its key is revoked or expires.

The CSRF token of a session is derived from its token (an HMAC), so it needs no storage
and cannot be guessed without the cookie, which scripts on other sites never see."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rgrid_api.models import Account, ApiKey, ConsoleSession, as_utc
from rgrid_api.services.accounts import ensure_live, live_key
from rgrid_common.errors import Unauthorized

SIGN_IN_AGAIN = "Sign in again with an API key."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The token a session's forms carry; only someone holding the cookie can make it."""
    return hmac.new(token.encode(), b"rgrid-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(token), given)


def sign_in(session: Session, *, key: str, now: datetime, hours: int) -> str:
    """A new session for a live key: its token, for the cookie (the only copy)."""
    account, api_key = live_key(session, key=key, now=now)
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(token_hash=_hash(token), account_id=account.id,
                               api_key_id=api_key.id, created_at=now,
                               expires_at=now + timedelta(hours=hours)))
    session.commit()
    return token


def account_for_session(session: Session, *, token: str, now: datetime) -> Account:
    """The account of a live session; 401 naming why for one unknown, ended or expired."""
    row = session.execute(
        select(ConsoleSession, Account, ApiKey)
        .join(Account, Account.id == ConsoleSession.account_id)
        .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
        .where(ConsoleSession.token_hash == _hash(token))).first()
    if row is None or row.ConsoleSession.ended_at is not None:
        raise Unauthorized("You are signed out.", SIGN_IN_AGAIN)
    if as_utc(row.ConsoleSession.expires_at) <= now:
        raise Unauthorized("Your session expired.", SIGN_IN_AGAIN)
    ensure_live(row.ApiKey, now)
    return row.Account


def sign_out(session: Session, *, token: str, now: datetime) -> None:
    session.execute(update(ConsoleSession)
                    .where(ConsoleSession.token_hash == _hash(token),
                           ConsoleSession.ended_at.is_(None))
                    .values(ended_at=now))
    session.commit()
