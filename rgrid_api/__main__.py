"""``python -m rgrid_api`` serves the API on RGRID_HOST:RGRID_PORT."""

import uvicorn

from rgrid_api.core.access_log import log_config
from rgrid_api.core.config import get_settings
from rgrid_api.main import create_app


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", log_config=log_config())


if __name__ == "__main__":
    main()
