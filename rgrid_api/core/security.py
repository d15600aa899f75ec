"""API keys (``sk_``) and worker tokens (``wk_``): 256 random bits behind a prefix, stored
only as their SHA-256.

A key has the entropy of a random 32-byte secret, so a plain (unsalted) SHA-256 is enough
to make the stored value useless to a reader of the database, and keeps lookup a single
indexed equality.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "sk_"
WORKER_TOKEN_PREFIX = "wk_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def generate_worker_token() -> str:
    return WORKER_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters, enough for a person to tell keys apart."""
    return key[:10]


def secrets_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
