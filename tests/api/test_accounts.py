from sqlalchemy import create_engine, inspect, text

from tests.api.conftest import submit


def test_creating_an_account_needs_the_admin_key(api):
    response = api.post("/api/v1/accounts", json={"name": "mallory"},
                        headers={"Authorization": "Bearer sk_not_admin"})
    assert response.status_code == 401
    assert response.json()["hint"]


def test_new_account_gets_an_sk_key_that_authenticates(alice):
    assert alice.key.startswith("sk_") and len(alice.key) > 40
    me = alice.get("/api/v1/accounts/me")
    assert me.status_code == 200
    assert me.json()["name"] == alice.account["name"]
    assert "api_key" not in me.json()


def test_wrong_or_missing_key_is_refused_with_a_hint(api):
    wrong = api.get("/api/v1/executions", headers={"Authorization": "Bearer sk_nope"})
    missing = api.get("/api/v1/executions")
    assert wrong.status_code == missing.status_code == 401
    assert "rgrid login" in wrong.json()["hint"]
    assert "rgrid login" in missing.json()["hint"]


def test_duplicate_account_name_conflicts(api, api_settings, alice):
    response = api.post("/api/v1/accounts", json={"name": alice.account["name"]},
                        headers={"Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"})
    assert response.status_code == 409


def test_api_key_is_not_stored_in_clear_anywhere_in_the_database(alice, api_settings):
    submit(alice, env={"SOME": "value"})
    engine = create_engine(api_settings.database_url)
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        assert alice.key not in str(value), f"key found in {table}"
                        assert alice.key[3:] not in str(value), f"key body found in {table}"
    finally:
        engine.dispose()
