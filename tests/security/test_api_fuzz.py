"""Every operation of the API's own OpenAPI spec, fuzzed with schemathesis (valid and
invalid data, derandomised so a failure is the same on every run): never a 5xx, always a
JSON problem when refused. Each operation is called with the credential it takes (an
account key, a worker's own token, the control-plane token, the admin key)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from rgrid_api.core.config import Settings
from rgrid_api.main import create_app

# The spec does not depend on the database or store, so it is read at collection time.
SPEC = create_app(Settings(database_url="sqlite://", storage_signing_key="spec-only",
                           storage_dir="/nonexistent")).openapi()
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = {operation.label: operation
              for operation in (result.ok() for result in SCHEMA.get_all_operations())}
EXAMPLES_PER_MODE = 15


def _takes_input(label: str) -> bool:
    method, path = label.split(" ", 1)
    declared = SPEC["paths"][path][method.lower()]
    return bool(declared.get("parameters") or declared.get("requestBody"))


# Invalid data needs something to be invalid: operations without inputs are fuzzed valid.
CASES = [(label, mode) for label in sorted(OPERATIONS)
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode is GenerationMode.POSITIVE or _takes_input(label)]


def credential_for(operation, *, account, worker, control, admin) -> dict[str, str]:
    tags = set(operation.tags or ())
    if "worker" in tags:
        return worker
    if "control" in tags:
        return control
    if operation.label == "POST /api/v1/accounts":
        return admin
    return account


def send(client, case, headers: dict[str, str]):
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    if "data" in kwargs:
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("cookies", None)
    return client.request(**kwargs)


def test_the_spec_lists_every_route_the_app_serves():
    assert len(OPERATIONS) >= 46, sorted(OPERATIONS)


@pytest.mark.parametrize(("label", "mode"), CASES,
                         ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_no_input_makes_a_server_error(label, mode, api, make_account, worker_headers,
                                       control_headers, api_settings):
    operation = OPERATIONS[label]
    fuzzer = make_account("fuzz")
    headers = credential_for(
        operation, account=fuzzer.headers, worker=worker_headers, control=control_headers,
        admin={"Authorization": f"Bearer {api_settings.admin_key.get_secret_value()}"})
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_MODE, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = send(api, case, headers)
        seen.append(response.status_code)
        assert response.status_code < 500, (
            f"{label} answered {response.status_code}: {response.text[:500]}\n"
            f"{case.as_curl_command()}")
        if response.status_code >= 400:
            problem = response.json()
            assert problem.get("message"), (
                f"{label} refused ({response.status_code}) without saying why: "
                f"{response.text[:300]}")

    fuzz()
    assert seen, f"no request was made to {label}"
