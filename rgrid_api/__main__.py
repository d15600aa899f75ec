"""``python -m rgrid_api`` serves the API on RGRID_HOST:RGRID_PORT."""

import uvicorn

from rgrid_api.core.config import get_settings
from rgrid_api.main import create_app


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info")


if __name__ == "__main__":
    main()
