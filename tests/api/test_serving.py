"""How `python -m rgrid_api` serves: what the server's settings must be, against its clients."""

from types import SimpleNamespace

import httpx
import uvicorn

from rgrid_api import __main__ as serving


def test_the_api_keeps_an_idle_connection_longer_than_its_clients_do(monkeypatch):
    """Otherwise a client (the CLI uses httpx) may send a request on a kept-alive
    connection just as the server closes it, and get a broken connection (seen in the
    load benchmark): the client must always be the one to give up on an idle connection."""
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    monkeypatch.setattr(serving, "get_settings", lambda: SimpleNamespace(host="::1", port=1))
    monkeypatch.setattr(serving, "create_app", lambda settings: "the app")
    serving.main()
    client_keeps = httpx.Limits().keepalive_expiry
    assert served["timeout_keep_alive"] > client_keeps
    assert served["timeout_keep_alive"] > uvicorn.Config(app=None).timeout_keep_alive
