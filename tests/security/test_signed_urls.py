"""Signed download URLs, attacked: a tampered signature, key, expiry or encoding; another
object's path under a valid signature; the wrong method; a replay after expiry. Each is
refused with 403 and no byte of the object. (Upload URLs: tests/api/test_artifacts.py.)"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from tests.api.test_artifacts import _input_artifact, _run_with_input, _with_query


@pytest.fixture
def two_downloads(as_alice, as_bob) -> tuple[str, str, bytes]:
    """Alice's download URL, Bob's, and the bytes of Alice's object."""
    data = b"alice's secret " + os.urandom(32)
    alice_url = _input_artifact(as_alice, _run_with_input(as_alice, data)["id"])["url"]
    bob_url = _input_artifact(as_bob, _run_with_input(as_bob, os.urandom(40))["id"])["url"]
    assert as_alice.client.get(alice_url).content == data
    return alice_url, bob_url, data


def _refused(response, data: bytes) -> bool:
    return response.status_code == 403 and data not in response.content


def test_a_tampered_download_url_is_refused(as_alice, two_downloads):
    alice_url, _bob_url, data = two_downloads
    get = as_alice.client.get
    query = dict(part.split("=", 1) for part in urlsplit(alice_url).query.split("&"))
    flipped = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    assert _refused(get(_with_query(alice_url, sig=flipped)), data)
    assert _refused(get(_with_query(alice_url, expires=int(query["expires"]) + 3600)), data)
    assert _refused(get(_with_query(alice_url, enc="gzip")), data)
    unsigned = get(alice_url.split("?", 1)[0])
    assert unsigned.status_code == 422 and data not in unsigned.content


def test_a_signature_does_not_open_another_object(as_bob, two_downloads):
    alice_url, bob_url, data = two_downloads
    alice_path = urlsplit(alice_url).path
    bob_query = urlsplit(bob_url).query
    assert _refused(as_bob.client.get(f"http://testserver{alice_path}?{bob_query}"), data)


def test_a_download_url_does_not_upload(as_bob, two_downloads):
    alice_url, _bob_url, data = two_downloads
    assert as_bob.client.put(alice_url, content=b"overwritten").status_code == 422
    with_size = _with_query(alice_url, size=len(b"overwritten"))
    assert as_bob.client.put(with_size, content=b"overwritten").status_code == 403
    assert as_bob.client.get(alice_url).content == data, "the object is unchanged"


def test_a_download_url_replayed_after_expiry_is_refused(as_alice, clock, two_downloads):
    alice_url, _bob_url, data = two_downloads
    clock.advance(minutes=16)
    assert _refused(as_alice.client.get(alice_url), data)
