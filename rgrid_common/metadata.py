"""Tags (``--metadata key=value``): what a user attaches to runs, batches and schedules to
find them again (``rgrid list --metadata key=value``). Bounded, so a tag cannot become a
place to store data, and checked the same way by the CLI and the API."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from rgrid_common.errors import InvalidInput
from rgrid_common.validation import unicode_text

MAX_TAGS = 20
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 256
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
KEY_HINT = (f"A key is letters, digits, '_', '.' and '-' (up to {MAX_KEY_CHARS}, starting "
            "with a letter or digit).")


def checked_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"{len(tags)} metadata tags; at most {MAX_TAGS} are kept.",
                           "Keep the tags you search by; put data in files.")
    for key, value in tags.items():
        if len(key) > MAX_KEY_CHARS or not KEY.match(key):
            raise InvalidInput(f"Invalid metadata key: {key[:80]!r}.", KEY_HINT)
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidInput(f"The value of metadata {key!r} is {len(value)} characters; "
                               f"at most {MAX_VALUE_CHARS}.", "Shorten it; put data in files.")
        unicode_text(value)
    return tags


def _tags_field(tags: dict[str, str]) -> dict[str, str]:
    """As a model's field: refused as a validation error (422), which names the field."""
    try:
        return checked_tags(tags)
    except InvalidInput as exc:
        raise ValueError(f"{exc.message} {exc.hint}") from None


Tags = Annotated[dict[str, str], AfterValidator(_tags_field)]


def parse_tag(text: str) -> tuple[str, str]:
    """``"key=value"`` (the CLI's ``--metadata``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InvalidInput(f"Invalid --metadata {text!r}.",
                           "Use --metadata key=value, e.g. --metadata experiment=baseline.")
    checked_tags({key: value})
    return key, value


def parse_tags(texts: list[str] | None) -> dict[str, str]:
    tags = dict(parse_tag(text) for text in texts or [])
    return checked_tags(tags)
