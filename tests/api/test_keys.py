"""An account's own keys: listed without the key, created once, revoked and expired keys
refused at once, another account's keys out of reach."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.api.conftest import Caller


def _as(caller: Caller, key: str) -> Caller:
    return Caller(caller.client, key, caller.account)


def test_a_created_key_works_is_listed_without_itself_and_is_stored_hashed(
        alice, api_settings):
    created = alice.post("/api/v1/keys", {"name": "laptop"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["api_key"].startswith("sk_") and body["expires_at"] is None
    assert _as(alice, body["api_key"]).get("/api/v1/accounts/me").json()["id"] == \
        alice.account["id"]
    listed = alice.get("/api/v1/keys").json()
    assert [k["name"] for k in listed] == ["default", "laptop"]
    assert body["api_key"] not in str(listed)
    assert {k["prefix"] for k in listed} == {alice.key[:10], body["api_key"][:10]}
    with create_engine(api_settings.database_url).connect() as connection:
        stored = str(connection.execute(text("SELECT * FROM api_keys")).all())
    assert body["api_key"] not in stored and alice.key not in stored


def test_a_revoked_key_answers_401_at_once_and_the_last_live_key_is_kept(alice):
    spare = alice.post("/api/v1/keys", {"name": "spare"}).json()
    as_spare = _as(alice, spare["api_key"])
    first = alice.get("/api/v1/keys").json()[0]
    revoked = as_spare.client.delete(f"/api/v1/keys/{first['id']}", headers=as_spare.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = alice.get("/api/v1/accounts/me")
    assert refused.status_code == 401
    assert "was revoked" in refused.json()["message"]
    last = as_spare.client.delete(f"/api/v1/keys/{spare['id']}", headers=as_spare.headers)
    assert last.status_code == 409 and "only live key" in last.json()["message"]
    assert as_spare.get("/api/v1/accounts/me").status_code == 200


def test_an_expired_key_answers_401_naming_the_day(as_alice, clock):
    made = as_alice.post("/api/v1/keys", {"name": "ci", "expires_in_days": 1}).json()
    as_ci = _as(as_alice, made["api_key"])
    assert as_ci.get("/api/v1/accounts/me").status_code == 200
    clock.advance(days=1, seconds=1)
    refused = as_ci.get("/api/v1/accounts/me")
    assert refused.status_code == 401
    assert f"expired on {made['expires_at'][:10]}" in refused.json()["message"]
    assert as_alice.get("/api/v1/accounts/me").status_code == 200


def test_another_accounts_keys_are_out_of_reach(alice, bob):
    bobs = bob.get("/api/v1/keys").json()
    for key in bobs:
        response = alice.client.delete(f"/api/v1/keys/{key['id']}", headers=alice.headers)
        assert response.status_code == 404
    assert {k["id"] for k in alice.get("/api/v1/keys").json()}.isdisjoint(
        {k["id"] for k in bobs})
    assert bob.get("/api/v1/accounts/me").status_code == 200


def test_key_names_and_expiry_are_checked(alice):
    for body in ({"name": ""}, {"name": "a b"}, {"name": "x" * 101},
                 {"name": "ok", "expires_in_days": 0}, {"name": "ok", "expires_in_days": 99999}):
        assert alice.post("/api/v1/keys", body).status_code == 422, body
