"""The Hetzner side through the real hcloud client against the fake API: servers made with
RGrid's label and cloud-init, listed by label, deleted; server errors and timeouts retried
and counted; quota errors not retried."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hcloud import Client

from hetzner_autoscaler.hetzner import HetznerNodes, ServerSpec
from rgrid_common.errors import ProviderError, ProviderUnreachable, QuotaExceeded
from tests.fake_hetzner import FakeHetzner


@pytest.fixture
def fake() -> Iterator[FakeHetzner]:
    fake = FakeHetzner(max_servers=3).start()
    yield fake
    fake.stop()


def nodes_on(fake: FakeHetzner, **options) -> HetznerNodes:
    client = Client(token="test-token", api_endpoint=fake.url, timeout=0.5)
    return HetznerNodes(client, pool="rgrid-docker", spec=ServerSpec(),
                        backoff_seconds=0.01, **options)


def test_servers_are_created_labelled_with_cloud_init_listed_and_deleted(fake):
    nodes = nodes_on(fake)

    server = nodes.create("rgrid-node-a", user_data="#cloud-config\n")

    [request] = fake.made("POST", "/servers")
    assert request.body["server_type"] == "cx22" and request.body["image"] == "debian-12"
    assert request.body["labels"] == {"rgrid-node": "rgrid-docker"}
    assert request.body["user_data"] == "#cloud-config\n"
    assert server.name == "rgrid-node-a" and server.status == "initializing"
    fake.servers[9999] = {**fake.servers[server.id], "id": 9999, "name": "someone-else",
                          "labels": {}}
    assert [s.name for s in nodes.servers()] == ["rgrid-node-a"]
    assert fake.made("GET", "/servers")[-1].path == "/servers"

    nodes.delete(server.id)
    assert server.id not in fake.servers
    nodes.delete(server.id)  # already gone: fine


def test_a_server_error_is_retried_with_backoff_and_then_succeeds(fake):
    slept = []
    fake.fail_next("POST", "/servers", status=500, code="server_error", times=2)

    nodes_on(fake, sleep=slept.append).create("rgrid-node-a", user_data="")

    assert len(fake.made("POST", "/servers")) == 3
    assert slept == [0.01, 0.02]


def test_a_server_error_that_persists_says_how_many_attempts_were_made(fake):
    fake.fail_next("POST", "/servers", status=503, code="unavailable", times=4)
    with pytest.raises(ProviderError, match="attempt 4 of 4") as caught:
        nodes_on(fake).create("rgrid-node-a", user_data="")
    assert not isinstance(caught.value, QuotaExceeded)
    assert len(fake.made("POST", "/servers")) == 4


def test_the_quota_error_is_not_retried(fake):
    nodes = nodes_on(fake)
    for name in "abc":
        nodes.create(f"rgrid-node-{name}", user_data="")
    with pytest.raises(QuotaExceeded, match="quota") as caught:
        nodes.create("rgrid-node-d", user_data="")
    assert "server limit" in caught.value.hint
    assert len(fake.made("POST", "/servers")) == 4


def test_a_timeout_is_retried(fake):
    fake.fail_next("GET", "/servers", delay_seconds=1.0)
    assert nodes_on(fake).servers() == []
    assert len(fake.made("GET", "/servers")) == 2


def test_an_unreachable_endpoint_is_reported_as_such():
    client = Client(token="test-token", api_endpoint="http://127.0.0.1:9/v1", timeout=0.5)
    nodes = HetznerNodes(client, pool="p", spec=ServerSpec(), attempts=2, backoff_seconds=0)
    with pytest.raises(ProviderUnreachable, match="attempt 2 of 2"):
        nodes.servers()


def test_a_nodes_price_is_hetzners_for_its_type_and_location(fake):
    fake.hourly_prices[("cx22", "fsn1")] = "0.0071400000"

    assert nodes_on(fake).hourly_price("0.0060") == (7140, "Hetzner cx22 in fsn1, net")
    assert fake.made("GET", "/server_types")


def test_without_a_price_from_hetzner_the_configured_one_says_so(fake):
    fake.hourly_prices.clear()

    micros, source = nodes_on(fake).hourly_price("0.0123")

    assert micros == 12300
    assert source.startswith("configured (RGRID_FALLBACK_PRICE_EUR_PER_HOUR=0.0123)")
    assert "no price for cx22 in fsn1" in source
