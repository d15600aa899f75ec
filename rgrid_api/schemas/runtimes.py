"""The runtimes a script can run in."""

from __future__ import annotations

from pydantic import BaseModel


class RuntimePublic(BaseModel):
    name: str
    image: str
    extensions: list[str]
    default: bool
