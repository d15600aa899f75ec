"""Rate limits on submissions (per account) and on failed authentication (per address):
429 with Retry-After, and the CLI waits it out. The limiter's clock is the test's, so no
test waits on real time."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cli.client import ApiClient
from cli.config import CliSettings
from rgrid_api.core.rate_limit import RateLimiter
from rgrid_api.main import create_app
from rgrid_common.errors import RateLimited
from tests.api.conftest import HELLO, Caller


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def limited(api_settings):
    """An API allowing 2 submissions and 3 failed authentications a minute."""
    settings = api_settings.model_copy(update={"submissions_per_minute": 2,
                                               "failed_auth_per_minute": 3})
    time = FakeTime()
    with TestClient(create_app(settings)) as client:
        client.app.state.limiter = RateLimiter(clock=time)
        yield client, time


def test_submissions_past_the_limit_answer_429_with_retry_after(limited, alice, bob):
    client, time = limited
    as_alice, as_bob = (Caller(client, c.key, c.account) for c in (alice, bob))
    assert [as_alice.post("/api/v1/executions", HELLO).status_code for _ in range(2)] == [201,
                                                                                          201]
    refused = as_alice.post("/api/v1/executions", HELLO)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"  # one more every 30 s at 2 a minute
    assert "the limit is 2 a minute" in refused.json()["message"]
    assert as_alice.get("/api/v1/executions").status_code == 200, "reading is not limited"
    assert as_bob.post("/api/v1/executions", HELLO).status_code == 201, "per account"
    time.sleep(30)
    assert as_alice.post("/api/v1/executions", HELLO).status_code == 201


def test_failed_authentication_past_the_limit_stops_checking_keys(limited, alice):
    client, time = limited
    for _ in range(3):
        assert client.get("/api/v1/accounts/me",
                          headers={"Authorization": "Bearer sk_guess"}).status_code == 401
    for key in ("sk_guess", alice.key):  # no more answers to guesses, right or wrong
        refused = client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    time.sleep(60)
    assert client.get("/api/v1/accounts/me",
                      headers={"Authorization": f"Bearer {alice.key}"}).status_code == 200


def test_the_cli_waits_out_a_429_and_says_so(limited, alice, capsys):
    client, time = limited
    cli = ApiClient(CliSettings(api_url="http://testserver", api_key=alice.key),
                    http_client=client, sleep=time.sleep)
    ids = [cli.submit("/api/v1/executions", HELLO)["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert time.now == 1030.0, "it waited exactly what Retry-After said"
    said = capsys.readouterr().err
    assert "Too many submissions" in said and "Waiting 30 s" in said


def test_the_token_bucket_refills_at_its_rate():
    time = FakeTime()
    limiter = RateLimiter(clock=time)
    for _ in range(60):
        limiter.take("k", "a", 60, "things")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k", "a", 60, "things")
    assert refused.value.retry_after == 1
    time.sleep(1)
    limiter.take("k", "a", 60, "things")
    limiter.take("k", "b", 60, "things")  # another key has its own bucket
