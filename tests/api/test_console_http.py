"""The console over HTTP: sign-in with a key → a session cookie (never the key), CSRF and
origin checks on every form, another account's pages answering not-found, user text
escaped, sessions ended by sign-out, expiry and key revocation. The browser tests
(tests/console/) drive the same pages in Chromium."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import create_engine, text

from tests.api.conftest import Caller, submit

SITE = "http://testserver"
SAME_SITE = {"Origin": SITE}
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def sign_in(caller: Caller, key: str | None = None, headers: dict | None = None):
    return caller.client.post("/console/sign-in", data={"api_key": key or caller.key},
                              headers=SAME_SITE if headers is None else headers,
                              follow_redirects=False)


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page_html)[1]


@pytest.fixture
def signed_in(as_alice) -> Caller:
    answer = sign_in(as_alice)
    assert answer.status_code == 303, answer.text
    return as_alice


def test_signing_in_sets_a_strict_httponly_session_cookie_and_never_shows_the_key(
        as_alice, api_settings):
    answer = sign_in(as_alice)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/executions"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("rgrid_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert f"Max-Age={api_settings.console_session_hours * 3600}" in cookie
    assert as_alice.key not in cookie
    page = as_alice.client.get("/console/executions")
    assert page.status_code == 200 and as_alice.account["name"] in page.text
    assert as_alice.key not in page.text
    token = as_alice.client.cookies["rgrid_session"]
    with create_engine(api_settings.database_url).connect() as connection:
        stored = str(connection.execute(text("SELECT * FROM console_sessions")).all())
    assert token not in stored


def test_a_wrong_key_or_a_form_from_another_site_signs_nobody_in(as_alice):
    wrong = sign_in(as_alice, key="sk_" + "x" * 43)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert "text/html" in wrong.headers["content-type"]
    elsewhere = sign_in(as_alice, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    no_origin = sign_in(as_alice, headers={})
    assert no_origin.status_code == 403
    assert "rgrid_session" not in as_alice.client.cookies


def test_pages_without_a_session_send_the_browser_to_sign_in(as_alice):
    answer = as_alice.client.get("/console/executions", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"


def test_signing_out_needs_the_csrf_token_and_then_ends_the_session(signed_in):
    client = signed_in.client
    token = client.cookies["rgrid_session"]
    page = client.get("/console/executions").text
    refused = client.post("/console/sign-out", data={}, headers=SAME_SITE,
                          follow_redirects=False)
    assert refused.status_code == 403 and "security token" in refused.text
    forged = client.post("/console/sign-out", data={"csrf_token": "0" * 64},
                         headers=SAME_SITE, follow_redirects=False)
    assert forged.status_code == 403
    cross_site = client.post("/console/sign-out", data={"csrf_token": csrf_of(page)},
                             headers={"Origin": "https://evil.example"},
                             follow_redirects=False)
    assert cross_site.status_code == 403
    assert client.get("/console/executions", follow_redirects=False).status_code == 200
    out = client.post("/console/sign-out", data={"csrf_token": csrf_of(page)},
                      headers=SAME_SITE, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set("rgrid_session", token)  # the old cookie, kept by an attacker
    assert client.get("/console/executions", follow_redirects=False).status_code == 303


def test_a_session_ends_when_it_expires_or_its_key_is_revoked(signed_in, clock, api_settings):
    client = signed_in.client
    spare = signed_in.post("/api/v1/keys", {"name": "spare"}).json()
    clock.advance(hours=api_settings.console_session_hours, seconds=1)
    assert client.get("/console/executions", follow_redirects=False).status_code == 303
    assert sign_in(signed_in).status_code == 303
    assert client.get("/console/executions", follow_redirects=False).status_code == 200
    as_spare = {"Authorization": f"Bearer {spare['api_key']}"}
    first = next(key for key in client.get("/api/v1/keys", headers=as_spare).json()
                 if key["name"] == "default")
    assert client.delete(f"/api/v1/keys/{first['id']}", headers=as_spare).status_code == 200
    assert client.get("/console/executions", follow_redirects=False).status_code == 303


def test_the_executions_page_lists_the_accounts_runs_filtered_and_paged(signed_in):
    client = signed_in.client
    tagged = submit(signed_in, script_name="tagged.py", metadata={"exp": "a1"})
    plain = [submit(signed_in, script_name=f"plain{n}.py") for n in range(3)]
    everything = client.get("/console/executions").text
    assert tagged["id"] in everything and all(p["id"] in everything for p in plain)
    by_tag = client.get("/console/executions", params={"tag": "exp=a1"}).text
    assert tagged["id"] in by_tag and plain[0]["id"] not in by_tag
    by_status = client.get("/console/executions", params={"status": "succeeded"}).text
    assert tagged["id"] not in by_status
    bad = client.get("/console/executions", params={"since": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_another_accounts_execution_answers_a_not_found_page(signed_in, as_bob):
    bobs = submit(as_bob)
    answer = signed_in.client.get(f"/console/executions/{bobs['id']}")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert bobs["script_name"] not in answer.text


def test_what_a_user_wrote_is_shown_as_text_and_no_inline_script_may_run(signed_in):
    execution = submit(signed_in, script_name="x.py", args=[HOSTILE],
                       metadata={"note": HOSTILE[:200]})
    for path in ("/console/executions", f"/console/executions/{execution['id']}"):
        page = signed_in.client.get(path)
        assert page.status_code == 200
        assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_the_landing_page_says_what_rgrid_is_and_links_to_sign_in(clocked):
    page = clocked.get("/")
    assert page.status_code == 200
    assert "./scripts/dev up" in page.text and "/console/sign-in" in page.text


def test_a_console_page_may_read_a_stream_with_its_cookie_but_another_site_may_not(
        signed_in, as_bob):
    mine, bobs = submit(signed_in), submit(as_bob)
    client = signed_in.client
    url = f"/api/v1/executions/{mine['id']}/stream"
    with client.websocket_connect(url, headers={"Origin": SITE}) as ws:
        assert ws.receive_json() == {"type": "status", "status": "queued", "attempt": 1,
                                     "worker": None}
    with client.websocket_connect(url, headers={"Origin": "https://evil.example"}) as ws:
        refused = ws.receive_json()
    assert refused["type"] == "error" and refused["status"] == 403
    with client.websocket_connect(f"/api/v1/executions/{bobs['id']}/stream",
                                  headers={"Origin": SITE}) as ws:
        assert ws.receive_json()["status"] == 404


def _batch(caller: Caller, items: int = 3, **overrides) -> dict:
    answer = caller.post("/api/v1/batches", {
        "script_name": "each.py", "script_content": "print(1)\n", "env": {},
        "items": [{"args": [f"f{i}.csv"]} for i in range(items)], "parallel": 2,
        **overrides})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_the_batches_pages_show_progress_and_items_and_only_ones_own(signed_in, as_bob):
    client = signed_in.client
    mine, bobs = _batch(signed_in, metadata={"note": HOSTILE[:200]}), _batch(as_bob)
    listing = client.get("/console/batches").text
    assert mine["id"] in listing and bobs["id"] not in listing
    assert "0 of 3 ended" in listing
    page = client.get(f"/console/batches/{mine['id']}")
    assert page.status_code == 200
    assert 'max="3" value="0"' in page.text  # the progress bar
    assert page.text.count('data-item="') == 3  # every item listed
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert client.get(f"/console/batches/{bobs['id']}").status_code == 404


def test_a_batch_is_cancelled_and_its_failures_retried_from_its_page_with_the_csrf_token(
        signed_in):
    client = signed_in.client
    batch = _batch(signed_in)
    url = f"/console/batches/{batch['id']}"
    token = csrf_of(client.get(url).text)
    refused = client.post(f"{url}/cancel", data={}, headers=SAME_SITE, follow_redirects=False)
    assert refused.status_code == 403
    assert signed_in.get(f"/api/v1/batches/{batch['id']}").json()["status"] == "running"
    cancelled = client.post(f"{url}/cancel", data={"csrf_token": token}, headers=SAME_SITE,
                            follow_redirects=False)
    assert cancelled.status_code == 303
    page = client.get(url).text
    assert page.count("status-cancelled") >= 4  # the batch and its three items
    assert "Retry failed items" in page
    retried = client.post(f"{url}/retry-failed", data={"csrf_token": token},
                          headers=SAME_SITE, follow_redirects=False)
    assert retried.status_code == 303
    again = retried.headers["location"].rsplit("/", 1)[-1]
    public = signed_in.get(f"/api/v1/batches/{again}").json()
    assert (public["retry_of"], public["total"]) == (batch["id"], 3)
    assert f'href="/console/batches/{batch["id"]}"' in client.get(f"/console/batches/{again}").text


def test_the_nodes_page_shows_the_autoscalers_nodes_and_decisions_as_text(
        signed_in, api_settings):
    control = {"Authorization": f"Bearer {api_settings.control_token.get_secret_value()}"}
    name = f"rgrid-node-{secrets.token_hex(3)}"
    report = {"nodes": [{"name": name, "pool": "rgrid-docker", "server_id": 7,
                         "server_status": "running", "state": "ready",
                         "created_at": "2026-11-28T10:00:00+00:00", "server_type": "cx22",
                         "price_per_hour_micros": 6000, "slots": 2}],
              "events": [{"at": "2026-11-28T10:00:00+00:00", "kind": "provision",
                          "node": name, "message": f"queued work waits {HOSTILE}"}]}
    assert signed_in.client.post("/api/v1/control/autoscaler/report", json=report,
                                 headers=control).status_code == 204
    page = signed_in.client.get("/console/nodes")
    assert page.status_code == 200
    assert name in page.text and "cx22" in page.text and "queued work waits" in page.text
    assert HOSTILE not in page.text and "&lt;img" in page.text


def test_the_schedules_page_lists_ones_own_and_deletes_with_the_csrf_token(
        signed_in, as_bob):
    client = signed_in.client
    body = {"every_seconds": 3600, "batch": {
        "script_name": "nightly.py", "script_content": "print(1)\n", "env": {},
        "items": [{"args": ["a.csv"]}], "parallel": 1}}
    mine = signed_in.post("/api/v1/schedules", body).json()
    bobs = as_bob.post("/api/v1/schedules", body).json()
    page = client.get("/console/schedules").text
    assert mine["id"] in page and bobs["id"] not in page and "every 3600 s" in page
    refused = client.post(f"/console/schedules/{bobs['id']}/delete",
                          data={"csrf_token": csrf_of(page)}, headers=SAME_SITE)
    assert refused.status_code == 404
    deleted = client.post(f"/console/schedules/{mine['id']}/delete",
                          data={"csrf_token": csrf_of(page)}, headers=SAME_SITE,
                          follow_redirects=False)
    assert deleted.status_code == 303
    assert mine["id"] not in client.get("/console/schedules").text
    assert [s["id"] for s in as_bob.get("/api/v1/schedules").json()["schedules"]] == [
        bobs["id"]]


def test_a_long_logs_page_shows_its_tail_and_the_whole_log_downloads(
        signed_in, api, worker_headers, as_bob):
    execution = submit(signed_in)
    assert api.post(f"/api/v1/worker/executions/{execution['id']}/claim",
                    json={"flow_run_id": "fr-long", "worker": "node-7"},
                    headers=worker_headers).status_code == 200
    chunks = [{"seq": n, "stream": "stderr" if n % 5 == 4 else "stdout",
               "data": f"chunk {n:03d} " + "x" * (64 * 1024 - 11) + "\n"} for n in range(24)]
    assert api.post(f"/api/v1/worker/executions/{execution['id']}/logs",
                    json={"chunks": chunks}, headers=worker_headers).status_code == 204
    page = signed_in.client.get(f"/console/executions/{execution['id']}").text
    assert "The log is long" in page
    assert "chunk 023" in page and "chunk 000" not in page  # the tail, under 1 MB of it
    assert 'data-live="yes"' in page  # and it still follows what comes next
    whole = signed_in.client.get(f"/console/executions/{execution['id']}/log")
    assert whole.status_code == 200
    assert whole.headers["content-disposition"].startswith("attachment")
    assert whole.text == "".join(chunk["data"] for chunk in chunks)
    bobs = submit(as_bob)
    assert signed_in.client.get(f"/console/executions/{bobs['id']}/log").status_code == 404
