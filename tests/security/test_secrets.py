"""Secrets stay secret (issue 14): the control plane's secrets (admin key, control-plane
token, storage signing key, Prefect's database password), the worker's own token and the
account's API key appear in no
log of any process of the stack, in no flow run's parameters, and in no error an
account's request gets back, after real runs (one of them failing) on the real stack."""

from __future__ import annotations

import json
from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from cli.config import read_config
from devstack.stack import SECRET_NAMES
from tests.conftest import write_script


def _secrets(stack) -> dict[str, str]:
    found = {name: stack.secret(name) for name in SECRET_NAMES}
    found["api_key"] = read_config(stack.settings.cli_config)["api_key"]
    found["worker_token"] = _environment(stack.processes["worker"].pid)["RGRID_WORKER_TOKEN"]
    assert all(len(value) >= 16 for value in found.values()), "the secrets are real ones"
    return found


def _environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def test_no_secret_reaches_a_log_a_flow_run_or_an_error(rgrid, tmp_path, stack):
    write_script(tmp_path, "fails.py", "import os\nprint(sorted(os.environ))\nraise SystemExit(3)\n")
    failed = rgrid("run", "fails.py", "--json")
    assert failed.exit_code == 3
    refused = rgrid("status", "ex_not_mine_0000", "--json")
    assert refused.exit_code != 0
    secrets = _secrets(stack)

    logs = {path.name: path.read_text(errors="replace")
            for path in (stack.home / "logs").glob("*.log")}
    assert {"api.log", "prefect-server.log", "worker.log"} <= set(logs)
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
        runs = prefect.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=["rgrid"])), limit=200)
    assert runs, "the runs are tagged rgrid"
    parameters = json.dumps([run.parameters for run in runs])
    said_to_the_user = failed.stdout + failed.stderr + refused.stdout + refused.stderr
    script_saw = rgrid("logs", failed.json()["id"]).stdout
    for name, value in secrets.items():
        for log_name, text in logs.items():
            assert value not in text, f"{name} is in {log_name}"
        assert value not in parameters, f"{name} is in a flow run's parameters"
        assert value not in said_to_the_user, f"{name} is in what the CLI printed"
        assert value not in script_saw, f"{name} is in the script's environment"
    assert "RGRID_" not in script_saw and "PREFECT_" not in script_saw
