"""Settings and API client for a command, built once per invocation."""

from __future__ import annotations

from cli.client import ApiClient
from cli.config import CliSettings


def settings() -> CliSettings:
    return CliSettings().resolved()


def api(require_key: bool = True) -> ApiClient:
    return ApiClient(settings(), require_key=require_key)
