"""The environment a child process of the dev stack starts with, built from the fields of
the settings class it reads, never from hand-typed ``RGRID_`` keys."""

from __future__ import annotations

import json

from pydantic import SecretStr
from pydantic_settings import BaseSettings


def environment_for(settings_class: type[BaseSettings], **values: object) -> dict[str, str]:
    """The variables that give a process reading ``settings_class`` these values. A name
    that is not one of its fields is an error here, not a setting the child silently
    ignores; None leaves the child's default."""
    unknown = sorted(set(values) - set(settings_class.model_fields))
    if unknown:
        raise ValueError(f"{settings_class.__name__} has no field {', '.join(unknown)}")
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{name.upper()}": _as_text(value)
            for name, value in values.items() if value is not None}


def _as_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
