"""The API's access log, without query strings.

A signed download URL carries its signature in the query string and lets anyone holding
it read the object until it expires; uvicorn's access log would write every one of them
into the API's log. The path alone says what was asked for."""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

ACCESS_LOGGER = "uvicorn.access"
PATH_ARG = 2  # uvicorn's access record: (client, method, path with query, version, status)


class StripQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > PATH_ARG and isinstance(args[PATH_ARG], str):
            path = args[PATH_ARG].partition("?")[0]
            record.args = (*args[:PATH_ARG], path, *args[PATH_ARG + 1:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with the filter on its access handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["strip_query_strings"] = {
        "()": f"{__name__}.StripQueryStrings"}
    config["handlers"]["access"]["filters"] = ["strip_query_strings"]
    return config
