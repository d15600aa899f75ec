"""The API's database out of reach (PostgreSQL restarting, a network blink): a request is
answered 503 with Retry-After, which clients send again, not 500, which they give up on."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rgrid_api.core.config import Settings
from rgrid_api.main import create_app
from tests.conftest import POSTGRES_ADMIN_URL


def test_a_request_while_the_database_is_gone_is_a_503_to_send_again(
        api_settings: Settings, new_postgres_database):
    database = new_postgres_database()
    settings = api_settings.model_copy(update={"database_url": database})
    admin = {"Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"}
    with TestClient(create_app(settings)) as client:
        made = client.post("/api/v1/accounts", json={"name": f"o-{secrets.token_hex(3)}"},
                           headers=admin)
        assert made.status_code == 201, made.text
        key = {"Authorization": f"Bearer {made.json()['api_key']}"}
        assert client.get("/api/v1/executions", headers=key).status_code == 200

        _drop(make_url(database).database)  # its connections are cut, and it is gone
        answer = client.get("/api/v1/executions", headers=key)

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "2"
    assert answer.json()["code"] == "service_unavailable"
    assert "cannot reach its database" in answer.json()["message"]


def _drop(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
