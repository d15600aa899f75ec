"""The web console: server-rendered pages (Jinja2, autoescaped) for a signed-in account,
served by the API itself; nothing is loaded from another origin."""

from rgrid_api.console import (batch_pages, cost_page, node_pages, pages, rendering,
                               schedule_pages)

ROUTERS = (pages.router, batch_pages.router, cost_page.router, node_pages.router,
           schedule_pages.router)


def install(app) -> None:
    """Every console page and the console's static files."""
    for router in ROUTERS:
        app.include_router(router)
    rendering.mount_static(app)
