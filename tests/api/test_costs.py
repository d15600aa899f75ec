"""Costs end to end through the API, on a database of its own (the billing hours of the
shared one's workers close under every other test) with the API's clock moved by the
test: estimates at the end, hours closing and shared, estimates turning final, the
report per day, script and tag, and accounts kept apart."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rgrid_api.core.db import session_scope
from rgrid_api.main import create_app
from rgrid_api.models import BillingHour
from rgrid_api.services import costs
from tests.api.conftest import HELLO, Clock
from tests.helpers import wait_for

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
LOCAL_PER_HOUR = 7200  # micro-euros: "0.0072"
NODE_PER_HOUR = 12000


@pytest.fixture
def priced(api_settings, tmp_path):
    clock = Clock()
    clock.now = T0
    settings = api_settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'rgrid.db'}",
        "local_price_eur_per_hour": "0.0072", "local_slots": 2,
        "close_hours_every_seconds": 3600 * 24 * 365})  # closed by the test, not the loop
    with TestClient(create_app(settings, clock=clock)) as client:
        yield Priced(client, settings, clock)


class Priced:
    def __init__(self, client: TestClient, settings, clock: Clock) -> None:
        self.client, self.settings, self.clock = client, settings, clock
        self.admin = {"Authorization": f"Bearer {settings.admin_key.get_secret_value()}"}
        self.control = {"Authorization": f"Bearer {settings.control_token.get_secret_value()}"}

    def account(self) -> dict[str, str]:
        key = self.client.post("/api/v1/accounts", json={"name": secrets.token_hex(4)},
                               headers=self.admin).json()["api_key"]
        return {"Authorization": f"Bearer {key}"}

    def worker(self, name: str) -> dict[str, str]:
        token = self.client.post("/api/v1/control/worker-tokens", json={"worker": name},
                                 headers=self.control).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def at(self, minutes: float) -> None:
        self.clock.now = T0 + timedelta(minutes=minutes)

    def ran(self, user, worker, worker_name: str, start: float, end: float,
            **submitted) -> str:
        """An execution that ran on ``worker_name`` from ``start`` to ``end`` (minutes
        after T0)."""
        self.at(start)
        execution = self.client.post("/api/v1/executions", headers=user,
                                     json={**HELLO, "use_cache": False, **submitted}).json()
        base = f"/api/v1/worker/executions/{execution['id']}"
        assert self.client.post(f"{base}/claim", json={"flow_run_id": "fr", "worker":
                                                       worker_name},
                                headers=worker).status_code == 200
        self.at(end)
        assert self.client.post(f"{base}/finish", json={"status": "succeeded",
                                                        "exit_code": 0},
                                headers=worker).status_code == 204
        return execution["id"]

    def cost(self, user, execution_id: str) -> tuple[int, str]:
        found = self.client.get(f"/api/v1/executions/{execution_id}", headers=user).json()
        return found["cost_micros"], found["cost_state"]

    def close_hours(self, minutes: float) -> int:
        for session in session_scope(self.settings.database_url):
            return costs.close_billing_hours(session, settings=self.settings,
                                             now=T0 + timedelta(minutes=minutes))

    def report(self, user, **params) -> dict:
        response = self.client.get("/api/v1/costs", headers=user, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def test_an_estimate_at_the_end_then_the_hour_shared_exactly_and_final(priced):
    alice, local = priced.account(), priced.worker("local-1")
    a = priced.ran(alice, local, "local-1", 10, 40, metadata={"exp": "e1"})
    b = priced.ran(alice, local, "local-1", 30, 90, script_name="other.py")

    # 30 min on a 2-slot node at 7,200 an hour: 1,800; B's 60 min: 3,600
    assert priced.cost(alice, a) == (1800, "estimated")
    assert priced.cost(alice, b) == (3600, "estimated")
    assert _basis(priced, alice, a) == (
        "1800.0 s on local-1 at €0.0072 an hour for 2 slots: configured "
        "(RGRID_LOCAL_PRICE_EUR_PER_HOUR=0.0072); an estimate until its billing hours close")

    assert priced.close_hours(65) == 1  # 10:00-11:00: half an hour each of A and B
    assert priced.cost(alice, a) == (3600, "final")
    assert _basis(priced, alice, a).endswith(
        "; final: its share of each billing hour it ran in")
    assert priced.cost(alice, b) == (3600, "estimated"), "its second hour is still open"

    assert priced.close_hours(125) == 1  # 11:00-12:00: only B, for half an hour
    assert priced.cost(alice, b) == (3600 + 7200, "final")
    assert priced.close_hours(185) == 0, "a configured worker's empty hours are not kept"

    day = priced.report(alice, since="2026-11-01T00:00:00Z", until="2026-11-03T00:00:00Z")
    assert [(row["key"], row["executions"], row["final_micros"], row["estimated_micros"])
            for row in day["rows"]] == [("2026-11-02", 2, 3600 + 10800, 0)]
    assert day["total"]["compute_microseconds"] == 90 * 60 * 10**6
    by_script = priced.report(alice, by="script", since="2026-11-01T00:00:00Z",
                              until="2026-11-03T00:00:00Z")
    assert {row["key"]: row["final_micros"] for row in by_script["rows"]} == {
        "hello.py": 3600, "other.py": 10800}
    by_tag = priced.report(alice, by="tag:exp", since="2026-11-01T00:00:00Z",
                           until="2026-11-03T00:00:00Z")
    assert {row["key"]: row["executions"] for row in by_tag["rows"]} == {
        "e1": 1, "(no exp)": 1}


def test_two_nodes_at_their_own_prices_and_accounts_see_only_their_own(priced):
    alice, bob = priced.account(), priced.account()
    priced.at(20)
    report = {"nodes": [{"name": "rgrid-node-1", "pool": "p", "server_id": 1,
                         "server_status": "running", "state": "ready",
                         "created_at": (T0 + timedelta(minutes=20)).isoformat(),
                         "server_type": "cx32", "price_per_hour_micros": NODE_PER_HOUR,
                         "price_source": "Hetzner cx32 in fsn1, net", "slots": 2}],
              "events": []}
    assert priced.client.post("/api/v1/control/autoscaler/report", json=report,
                              headers=priced.control).status_code in (200, 204)
    node, local = priced.worker("rgrid-node-1"), priced.worker("local-1")
    on_node = priced.ran(alice, node, "rgrid-node-1", 20, 50)
    shared = priced.ran(bob, node, "rgrid-node-1", 50, 80)
    on_local = priced.ran(alice, local, "local-1", 0, 30)
    assert priced.cost(alice, on_node) == (3000, "estimated")  # 30 min × 12,000/h ÷ 2
    assert "at €0.0120 an hour for 2 slots: Hetzner cx32 in fsn1, net" in _basis(
        priced, alice, on_node)

    priced.close_hours(81)  # the node's first hour: 10:20-11:20, two executions
    assert priced.cost(alice, on_node) == (6000, "final")
    assert priced.cost(bob, shared) == (6000, "final")
    assert priced.cost(alice, on_local) == (7200, "final"), "alone in its hour"
    assert priced.close_hours(145) == 1, "the node's next hour, 11:20-12:20, closed idle"
    for session in session_scope(priced.settings.database_url):
        idle = session.scalars(select(BillingHour).where(
            BillingHour.node == "rgrid-node-1").order_by(BillingHour.started_at)).all()
        assert [(hour.executions, hour.price_micros) for hour in idle] == [
            (2, NODE_PER_HOUR), (0, NODE_PER_HOUR)], "the pool's idle cost, charged to nobody"

    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
    assert priced.report(bob, **window)["total"]["final_micros"] == 6000
    assert priced.report(alice, **window)["total"]["final_micros"] == 6000 + 7200
    assert priced.report(alice, by="batch", **window)["rows"][0]["key"] == "(single runs)"
    assert priced.client.get(f"/api/v1/executions/{shared}",
                             headers=alice).status_code == 404


def test_a_result_served_from_the_cache_costs_nothing(priced):
    alice, local = priced.account(), priced.worker("local-1")
    first = priced.ran(alice, local, "local-1", 0, 1, use_cache=True)
    assert priced.cost(alice, first)[0] > 0
    again = priced.client.post("/api/v1/executions", json={**HELLO, "use_cache": True},
                               headers=alice).json()
    assert again["cached_from"] == first
    assert priced.cost(alice, again["id"]) == (0, "final")


def test_a_batch_costs_what_its_items_do_estimated_then_final(priced):
    """The batch's cost is kept as its items are priced (not summed over them at each
    read): their estimates as they end, their shares as their hours close."""
    alice, local = priced.account(), priced.worker("local-1")
    priced.at(0)
    batch = priced.client.post("/api/v1/batches", headers=alice, json={
        **{key: HELLO[key] for key in ("script_name", "script_content")},
        "items": [{"args": ["a"]}, {"args": ["b"]}], "parallel": 2}).json()
    worker_batch = f"/api/v1/worker/batches/{batch['id']}"

    def claim(minutes: float) -> str:
        priced.at(minutes)
        return priced.client.post(f"{worker_batch}/claim-next", headers=local, json={
            "flow_run_id": f"shard-{minutes}", "worker": "local-1"}).json()["execution_id"]

    def finish(execution_id: str, minutes: float) -> None:
        priced.at(minutes)
        assert priced.client.post(f"/api/v1/worker/executions/{execution_id}/finish",
                                  json={"status": "succeeded", "exit_code": 0},
                                  headers=local).status_code == 204

    def cost() -> tuple[int, bool]:
        found = priced.client.get(f"/api/v1/batches/{batch['id']}", headers=alice).json()
        return found["cost_micros"], found["cost_final"]

    a, b = claim(10), claim(30)
    finish(a, 40)
    assert cost() == (1800, False)
    finish(b, 90)
    assert priced.client.post(f"{worker_batch}/finish", headers=local).status_code == 204
    assert cost() == (1800 + 3600, False), "estimates until the hours close"

    priced.close_hours(65)
    assert cost() == (3600 + 3600, False), "a's share final, b's estimate still"
    priced.close_hours(125)
    assert cost() == (3600 + 10800, True)
    assert sum(priced.cost(alice, item)[0] for item in (a, b)) == 3600 + 10800


def test_grouping_by_something_unknown_is_refused_with_the_choices(priced):
    response = priced.client.get("/api/v1/costs", params={"by": "colour"},
                                 headers=priced.account())
    assert response.status_code == 400
    assert "tag:KEY" in response.json()["hint"]


def _basis(priced: Priced, user, execution_id: str) -> str:
    return priced.client.get(f"/api/v1/executions/{execution_id}",
                             headers=user).json()["cost_basis"]


class Receiver:
    """A local webhook endpoint: what was POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_a_limit_warns_past_80_percent_tells_the_webhook_once_and_refuses_at_100(priced):
    alice, bob, local = priced.account(), priced.account(), priced.worker("local-1")
    receiver = Receiver()
    try:
        set_ = priced.client.put("/api/v1/costs/limit", headers=alice, json={
            "limit_micros": 10_000, "webhook_url": receiver.url})
        assert set_.json()["limit_micros"] == 10_000
        priced.ran(alice, local, "local-1", 0, 140)  # 140 min at 60 an hour-slot-minute

        warned = priced.client.post("/api/v1/executions", json=HELLO, headers=alice)
        assert warned.status_code == 201
        assert warned.headers["RGrid-Warning"] == (
            "84 % of this month's spending limit used: EUR 0.0084 of EUR 0.0100 (2026-11). "
            "New work is refused at 100 %.")
        [told] = wait_for(lambda: receiver.received, 30, "the webhook", every=0.05)
        assert (told["event"], told["spent_micros"], told["limit_micros"],
                told["percent"]) == ("spending_limit_warning", 8400, 10_000, 84)
        again = priced.client.post("/api/v1/executions", json=HELLO, headers=alice)
        assert "RGrid-Warning" in again.headers

        priced.ran(alice, local, "local-1", 150, 180)  # 1,800 more: 10,200 of 10,000
        refused = priced.client.post("/api/v1/executions", json=HELLO, headers=alice)
        batch = priced.client.post("/api/v1/batches", headers=alice, json={
            "script_name": "b.py", "script_content": "print(1)\n", "items": [{"args": []}]})
        assert priced.client.post("/api/v1/executions", json=HELLO,
                                  headers=bob).status_code == 201, "bob has no limit"
        assert len(receiver.received) == 1, "told once a month"
    finally:
        receiver.server.shutdown()
    assert (refused.status_code, batch.status_code) == (402, 402)
    assert refused.json()["message"] == (
        "Spending limit reached: €0.0102 spent of €0.0100 this month (2026-11, UTC). "
        "New work is refused; what runs finishes.")
    assert "rgrid cost limit set" in refused.json()["hint"]

    account_id = priced.client.get("/api/v1/accounts/me", headers=alice).json()["id"]
    raised = priced.client.put(f"/api/v1/accounts/{account_id}/spending-limit",
                               headers=priced.admin, json={"limit_micros": 50_000})
    assert raised.json()["spent_micros"] == 10_200
    assert priced.client.post("/api/v1/executions", json=HELLO,
                              headers=alice).status_code == 201
    assert priced.client.put(f"/api/v1/accounts/{account_id}/spending-limit", headers=alice,
                             json={"limit_micros": None}).status_code == 401, "admin only"


def test_a_batch_is_estimated_from_this_scripts_earlier_runs_before_it_starts(priced):
    alice, local = priced.account(), priced.worker("local-1")
    script = {"script_name": "est.py", "script_content": f"# {secrets.token_hex(4)}\n"}
    items = [{"args": [str(n)]} for n in range(10)]

    def batch() -> dict:
        response = priced.client.post("/api/v1/batches", headers=alice,
                                      json={**script, "items": items})
        assert response.status_code == 201, response.text
        return response.json()

    first = batch()["estimate"]
    assert (first["micros"], first["basis"], first["runs"]) == (None, None, 0), "no history"
    for start, minutes in ((200, 2), (210, 4), (220, 30)):  # median 4 minutes
        priced.ran(alice, local, "local-1", start, start + minutes, **script)

    second = batch()["estimate"]
    # 10 items × 4 min × 7,200 an hour ÷ 2 slots = 2,400
    assert (second["micros"], second["seconds_each"], second["runs"]) == (2400, 240.0, 3)
    assert second["basis"] == "this script's last runs"
    renamed = priced.client.post("/api/v1/batches", headers=alice, json={
        "script_name": "est.py", "script_content": "# changed\n", "items": items}).json()
    assert renamed["estimate"]["basis"] == "the last runs named est.py"
