"""``python -m rgrid_api`` serves the API on RGRID_HOST:RGRID_PORT."""

import uvicorn

from rgrid_api.core.access_log import log_config
from rgrid_api.core.config import get_settings
from rgrid_api.main import create_app

# Longer than any client keeps an idle connection (httpx: 5 s, the same as uvicorn's default).
# With equal times a client can send a request on a connection at the moment the server
# closes it, and gets a broken connection instead of an answer (seen under load).
KEEP_ALIVE_SECONDS = 75


def serving_options() -> dict:
    """How uvicorn serves the API, besides where."""
    return {"log_level": "info", "log_config": log_config(),
            "timeout_keep_alive": KEEP_ALIVE_SECONDS}


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                **serving_options())


if __name__ == "__main__":
    main()
