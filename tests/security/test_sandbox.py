"""The sandbox, attacked from inside (SPEC §1, issue 14): ``probe.py`` runs as a user's
script through the worker's own code (the execute flow against the real API and a real
Docker engine), once under each OCI runtime the nodes offer, tries every escape it knows,
and reports; each attack is a test here that fails if the attack worked. The host side
also listens on loopback ports, the API's and Prefect's among them, for the script to
try to reach."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.container import connect_docker
from flows.control_plane import ControlPlane
from flows.execute import run_execution
from flows.settings import WorkerSettings
from rgrid_common.errors import DockerUnavailable
from tests.api.conftest import TEST_WORKER, submit

PROBE = Path(__file__).with_name("probe.py")
RUNTIMES = ["runc", "runsc"]
ATTACKS = ["network_to_host_loopback", "network_to_the_outside", "process_environments",
           "mounts", "writes_outside_work_and_tmp", "become_root", "capabilities",
           "set_the_clock", "device_nodes", "hardlink_to_a_system_file",
           "see_other_processes"]


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A port on the host's loopback that answers anyone who reaches it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@dataclass
class ProbeRun:
    runtime: str
    final: dict  # the execution, as its owner sees it at the end
    stdout: str
    stderr: str

    @property
    def results(self) -> dict:
        assert self.final["status"] == "succeeded", (self.final["error"], self.stderr)
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def run_probe(api, make_account, worker_headers, stack, host_listener, tmp_path_factory
              ) -> Callable[..., ProbeRun]:
    """Runs ``probe.py`` with the attacks named, as an attacker's execution, through the
    execute flow under ``runtime``."""
    caller = make_account("attacker")
    ports = [host_listener, stack.settings.api_port, stack.settings.prefect_port]

    def run(runtime: str, attacks: list[str], script: str | None = None) -> ProbeRun:
        execution = submit(caller, script_name="probe.py",
                           script_content=script or PROBE.read_text(), env={},
                           args=[",".join(attacks), *(str(port) for port in ports)])
        api.headers.update(worker_headers)
        try:
            run_execution(execution["id"], flow_run_id=f"fr-{execution['id']}",
                          settings=WorkerSettings(worker_name=TEST_WORKER,
                                                  work_root=tmp_path_factory.mktemp("work"),
                                                  container_runtime=runtime),
                          control_plane=ControlPlane(api))
        finally:
            for name in worker_headers:
                api.headers.pop(name, None)
        chunks = caller.get(f"/api/v1/executions/{execution['id']}/logs",
                            params={"limit": 1000}).json()["chunks"]
        return ProbeRun(runtime, caller.get(f"/api/v1/executions/{execution['id']}").json(),
                        "".join(c["data"] for c in chunks if c["stream"] == "stdout"),
                        "".join(c["data"] for c in chunks if c["stream"] == "stderr"))

    run.secrets = [caller.key]
    return run


@pytest.fixture(scope="module", params=RUNTIMES)
def probed(request, run_probe, api_settings, worker_headers) -> dict:
    """The probe's report, from one run of every attack under the runtime
    ``request.param``, and the secrets it must not have seen."""
    run = run_probe(request.param, ATTACKS)
    return {"runtime": run.runtime, "results": run.results,
            "secrets": [api_settings.control_token.get_secret_value(),
                        worker_headers["Authorization"].removeprefix("Bearer "),
                        api_settings.admin_key.get_secret_value(),
                        api_settings.storage_signing_key.get_secret_value(),
                        *run_probe.secrets]}


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attack_is_held(probed, attack):
    outcome = probed["results"][attack]
    assert outcome["held"], f"{attack} worked under {probed['runtime']}: {outcome['detail']}"


def test_the_probe_tried_every_attack_listed(probed):
    assert sorted(probed["results"]) == sorted(ATTACKS)


def test_no_secret_is_in_any_process_the_script_can_see(probed):
    seen = json.loads(probed["results"]["process_environments"]["detail"])
    assert 0 < seen["pids"] < 10
    for secret in probed["secrets"]:
        assert secret not in seen["environ"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_fork_bomb_stops_at_the_process_limit_and_the_node_runs_on(run_probe, runtime):
    """Under runc the limit refuses the next fork (EAGAIN) and the script goes on. Under
    gVisor the limit also counts the sandbox kernel's own host threads: the fork is
    refused, or, when the kernel's thread is what hits it, the whole sandbox ends (exit
    code 2; SECURITY.md). Either way the node runs the next one."""
    bomb = run_probe(runtime, ["fork_bomb"])
    if runtime == "runc" or bomb.final["status"] == "succeeded":
        outcome = bomb.results["fork_bomb"]
        assert outcome["held"], outcome["detail"]
        print(f"{runtime}: {outcome['detail']}")
    else:
        assert (bomb.final["status"], bomb.final["exit_code"]) == ("failed", 2), bomb.final
    after = run_probe(runtime, [], script="print('the node runs on')\n")
    assert (after.final["status"], after.stdout) == ("succeeded", "the node runs on\n")


def test_a_node_whose_engine_lacks_the_runtime_says_so_and_how_to_fix_it():
    """A transient error: the attempt goes back to the queue, for a node that has it."""
    with pytest.raises(DockerUnavailable) as raised:
        connect_docker("node-without", runtime="kata")
    assert "node-without" in raised.value.message
    assert "no OCI runtime 'kata' (it has" in raised.value.message
    assert "runc" in raised.value.message  # what it has
    assert "RGRID_CONTAINER_RUNTIME=runc" in raised.value.hint
    assert raised.value.transient
