"""The CLI's settings: API URL and key, from the environment or the config file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rgrid_common.files import write_private

DEFAULT_API_URL = "http://127.0.0.1:8700"


def default_config_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "rgrid" / "config.json"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RGRID_", extra="ignore")

    config: Path = Field(default_factory=default_config_path)
    api_url: str | None = None
    api_key: SecretStr | None = None
    admin_key: SecretStr | None = None
    poll_seconds: float = 0.25
    live: Literal["stream", "poll"] = Field(
        "stream", description="How followers learn what happens: the API's WebSocket "
                              "streams, or polling (where a proxy blocks WebSockets).")
    request_timeout_seconds: float = Field(
        60, gt=0, description="How long the CLI waits for the API's answer to a request.")
    debug: bool = Field(False, description="Show tracebacks of unexpected errors.")

    def resolved(self) -> CliSettings:
        """Fill what the environment did not give from the config file."""
        stored = read_config(self.config)
        return self.model_copy(update={
            "api_url": self.api_url or stored.get("api_url") or DEFAULT_API_URL,
            "api_key": self.api_key or (SecretStr(stored["api_key"])
                                        if stored.get("api_key") else None),
        })


def read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_config(path: Path, *, api_url: str, api_key: str) -> None:
    """Written atomically with mode 0600: the file holds a secret."""
    write_private(path, json.dumps({"api_url": api_url, "api_key": api_key}, indent=2))
