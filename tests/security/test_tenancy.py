"""Tenancy, generated from the API's own spec: every account operation that names an
object by id, called by Alice with Bob's ids (valid bodies, drawn by schemathesis), answers
404 exactly as for an id that never existed, and leaves Bob's objects as they were. No
listing of Alice's shows Bob's ids."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.api.conftest import HELLO, Caller
from tests.security.test_api_fuzz import OPERATIONS, send

NEVER_EXISTED = "zz_never_existed_0000"


def _account_operations_by_id() -> list[str]:
    return sorted(label for label, operation in OPERATIONS.items()
                  if "{" in label
                  and not {"worker", "control", "admin"} & set(operation.tags or ()))


def _listings() -> list[str]:
    return sorted(label for label, operation in OPERATIONS.items()
                  if label.startswith("GET ") and "{" not in label
                  and not {"worker", "control"} & set(operation.tags or ()))


@pytest.fixture(scope="module")
def bobs_objects(make_account) -> tuple[Caller, dict[str, str]]:
    """One of every kind of object, Bob's: an execution with an input file, a batch, a
    schedule, a second key."""
    bob = make_account("bob-owner")
    data = os.urandom(64)
    sha256 = hashlib.sha256(data).hexdigest()
    offer = bob.post("/api/v1/uploads", {"files": [{"sha256": sha256, "size": 64}]}).json()
    assert bob.client.put(offer["files"][0]["url"], content=data).status_code == 200
    execution = bob.post("/api/v1/executions", {
        **HELLO, "args": ["in.csv"],
        "inputs": [{"name": "in.csv", "sha256": sha256, "size": 64, "arg_indexes": [0]}],
    }).json()
    [artifact] = bob.get(f"/api/v1/executions/{execution['id']}/artifacts").json()["artifacts"]
    batch = bob.post("/api/v1/batches", {
        "script_name": "b.py", "script_content": "print(1)\n",
        "items": [{"args": ["x"]}], "parallel": 1}).json()
    schedule = bob.post("/api/v1/schedules", {
        "cron": "0 3 * * *", "batch": {"script_name": "s.py", "script_content": "print(1)\n",
                                      "items": [{"args": ["y"]}], "parallel": 1}}).json()
    key = bob.post("/api/v1/keys", {"name": "second"}).json()
    return bob, {"execution_id": execution["id"], "artifact_id": artifact["id"],
                 "batch_id": batch["id"], "schedule_id": schedule["id"], "key_id": key["id"]}


def test_every_account_operation_by_id_is_covered():
    """A new kind of id in the spec must be added to Bob's objects, or this fails."""
    names = {part.split("}")[0] for label in _account_operations_by_id()
             for part in label.split("{")[1:]}
    assert names == {"execution_id", "artifact_id", "batch_id", "schedule_id", "key_id"}


@pytest.mark.parametrize("label", _account_operations_by_id())
def test_another_accounts_id_answers_like_a_missing_one(label, bobs_objects, make_account):
    bob, ids = bobs_objects
    alice = make_account("alice-prober")
    operation = OPERATIONS[label]
    names = [part.split("}")[0] for part in label.split("{")[1:]]
    answers: list[tuple[int, int]] = []

    def probe(path_parameters: dict[str, str]):
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                          path_parameters=path_parameters))
        @settings(max_examples=3, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def call(case):
            response = send(alice.client, case, alice.headers)
            assert response.status_code == 404, (
                f"{label} with {path_parameters} answered {response.status_code}: "
                f"{response.text[:300]}")
            for value in path_parameters.values():
                assert value not in response.text.replace(f"{value!r}", ""), \
                    "nothing of the object but the id it was asked for"
            answers.append(response.status_code)
        call()

    probe({name: ids[name] for name in names})
    probe({name: NEVER_EXISTED for name in names})
    assert answers and set(answers) == {404}
    assert bob.get(f"/api/v1/executions/{ids['execution_id']}").json()["status"] == "queued"
    assert bob.get(f"/api/v1/batches/{ids['batch_id']}").json()["status"] == "running"
    assert ids["schedule_id"] in str(bob.get("/api/v1/schedules").json())
    assert all(k["revoked_at"] is None for k in bob.get("/api/v1/keys").json())


@pytest.mark.parametrize("label", _listings())
def test_no_listing_shows_another_accounts_objects(label, bobs_objects, make_account):
    _bob, ids = bobs_objects
    alice = make_account("alice-lister")
    path = label.split(" ", 1)[1]
    text = alice.get(path).text
    for name, value in ids.items():
        assert value not in text, f"{label} shows Bob's {name}"
