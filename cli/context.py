"""Settings and API client for a command, built once per invocation."""

from __future__ import annotations

from cli.client import ApiClient
from cli.config import CliSettings
from rgrid_common.errors import Unauthorized


def settings() -> CliSettings:
    return CliSettings().resolved()


def api(require_key: bool = True) -> ApiClient:
    return ApiClient(settings(), require_key=require_key)


def admin_api(admin_key: str | None, doing: str = "This") -> ApiClient:
    """A client with the admin key: ``--admin-key``, else ``RGRID_ADMIN_KEY``."""
    current = settings()
    key = admin_key or (current.admin_key.get_secret_value() if current.admin_key else None)
    if not key:
        raise Unauthorized(f"{doing} needs the admin key.",
                           "Pass --admin-key or set RGRID_ADMIN_KEY.")
    return ApiClient(current, key=key)
