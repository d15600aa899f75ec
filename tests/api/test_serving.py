"""How `python -m rgrid_api` serves: what the server's settings must be, against its clients."""

import httpx
import uvicorn

from rgrid_api.__main__ import serving_options


def test_the_api_keeps_an_idle_connection_longer_than_its_clients_do():
    """Otherwise a client (the CLI uses httpx) may send a request on a kept-alive
    connection just as the server closes it, and get a broken connection (seen in the
    load benchmark): the client must always be the one to give up on an idle connection."""
    served = uvicorn.Config(app=None, **serving_options())
    assert served.timeout_keep_alive > httpx.Limits().keepalive_expiry
    assert served.timeout_keep_alive > uvicorn.Config(app=None).timeout_keep_alive
