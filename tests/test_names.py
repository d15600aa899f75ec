"""Names that cross processes are spelled once (``rgrid_common.names``): prefect.yaml, which
cannot import them, must agree; the dev stack's children get their settings by field
name, so a misspelt one fails here instead of being silently ignored there."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from devstack.environment import environment_for
from flows.settings import WorkerSettings
from rgrid_api.core.config import Settings
from rgrid_common import names

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def _declared() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}


def test_prefect_yaml_declares_each_flow_under_its_name_on_its_pool_and_queue():
    declared = _declared()
    expected = {names.EXECUTE_FLOW: (names.PROCESS_POOL_NAME, names.DEFAULT_QUEUE_NAME),
                names.SHARD_FLOW: (names.PROCESS_POOL_NAME, names.BATCH_QUEUE_NAME),
                names.BATCH_FLOW: (names.CONTROL_POOL_NAME, names.DEFAULT_QUEUE_NAME),
                names.SCHEDULED_BATCH_FLOW: (names.CONTROL_POOL_NAME,
                                             names.DEFAULT_QUEUE_NAME)}
    assert {name: (d["work_pool"]["name"], d["work_pool"]["work_queue_name"])
            for name, d in declared.items()} == expected
    for name, d in declared.items():
        module, function = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module), function)
        assert flow.name == name, f"{d['entrypoint']} is the flow {flow.name!r}, not {name!r}"
        assert names.deployment(name) == f"{name}/{name}"


def test_the_settings_default_to_the_declared_deployments():
    assert Settings().execute_deployment == names.EXECUTE_DEPLOYMENT
    assert Settings().batch_deployment == names.BATCH_DEPLOYMENT
    assert WorkerSettings().batch_shard_deployment == names.SHARD_DEPLOYMENT


def test_a_childs_environment_gives_it_the_settings_meant(monkeypatch):
    env = environment_for(WorkerSettings, api_url="http://api:1", worker_name="node-9",
                          heartbeat_seconds=2.5, package_index_cert=Path("/ca.pem"),
                          worker_token="secret", docker_host=None)
    assert "RGRID_DOCKER_HOST" not in env, "None leaves the child's default"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    child = WorkerSettings()
    assert (child.api_url, child.worker_name, child.heartbeat_seconds,
            child.package_index_cert, child.worker_token.get_secret_value()) == (
        "http://api:1", "node-9", 2.5, Path("/ca.pem"), "secret")


def test_a_misspelt_setting_is_an_error_not_silently_ignored():
    with pytest.raises(ValueError, match="WorkerSettings has no field heartbeat_secs"):
        environment_for(WorkerSettings, heartbeat_secs=1)
