"""The autoscaler against the fake Hetzner API and a real stack whose pool starts empty:
queued work makes it create servers; the test plays each new node by starting a worker
named after it once the fake reports it running; the work completes on those nodes; at
the end of their billing hour (the provider's clock, injected) the idle servers go.
Every decision is visible through `rgrid nodes`."""

from __future__ import annotations

import secrets
import threading

import httpx
import pytest

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentCreate, WorkPoolCreate

from devstack.processes import ManagedProcess
from hetzner_autoscaler.__main__ import connected
from hetzner_autoscaler.settings import AutoscalerSettings
from tests.conftest import write_script
from rgrid_common.names import EXECUTE_FLOW
from tests.helpers import expected_estimate, wait_for
from work_pools import PROCESS_POOL


def settings_for(stack, fake, **overrides) -> AutoscalerSettings:
    return AutoscalerSettings(**{
        "api_url": stack.settings.api_url, "control_token": stack.secret("control_token"),
        "prefect_api_url": stack.settings.prefect_api_url, "work_pool": PROCESS_POOL.name,
        "hcloud_endpoint": fake.url, "hcloud_token": "test-token", "max_nodes": 3,
        "provider_backoff_seconds": 0.01, **overrides})


def test_queued_work_brings_nodes_that_run_it_and_idle_nodes_go_at_the_billing_hour(
        empty_pool_stack, fake_hetzner, rgrid_on_empty_pool, tmp_path):
    rgrid = rgrid_on_empty_pool
    ids = []
    for index in range(3):
        write_script(tmp_path, f"job{index}.py",
                     f"# {secrets.token_hex(4)}\nimport time\ntime.sleep(1)\nprint({index})\n")
        ids.append(rgrid("run", f"job{index}.py", "--detach", "--json").json()["id"])
    workers: list[ManagedProcess] = []
    try:
        with connected(settings_for(empty_pool_stack, fake_hetzner)) as autoscaler:
            first = autoscaler.tick()
            assert first.decision.create == 2  # ceil(3 queued / 2 slots)
            assert len(first.created) == 2 and len(fake_hetzner.servers) == 2
            tokens = {}
            for request in fake_hetzner.made("POST", "/servers"):
                assert request.body["user_data"].startswith("#cloud-config")
                assert f"RGRID_WORKER_NAME={request.body['name']}" in request.body["user_data"]
                tokens[request.body["name"]] = _worker_token(request.body["user_data"])
            assert len(set(tokens.values())) == 2  # each node its own
            assert empty_pool_stack.secret("control_token") not in str(tokens)
            shown = rgrid("nodes", "--json").json()
            assert sorted(n["name"] for n in shown["nodes"]) == sorted(first.created)
            assert {n["state"] for n in shown["nodes"]} == {"provisioning"}
            assert any(e["kind"] == "decision" and e["message"].startswith(
                "3 queued, 0 slots free, would drain never: 2 nodes wanted")
                for e in shown["events"])

            assert autoscaler.tick().created == []  # booting nodes already cover the queue

            for name in first.created:
                fake_hetzner.boot(name)
                worker = ManagedProcess(name, empty_pool_stack.home)
                empty_pool_stack.start_worker(worker, name, token=tokens[name])
                workers.append(worker)
            finished = wait_for(lambda: all(
                rgrid("status", i, "--json").json()["status"] == "succeeded" for i in ids),
                120, "the executions to succeed on the new nodes", every=1)
            assert finished
            records = [rgrid("status", i, "--json").json() for i in ids]
            assert {record["worker"] for record in records} <= set(first.created)
            priced = {n["name"]: (n["price_per_hour_micros"], n["price_source"])
                      for n in rgrid("nodes", "--json").json()["nodes"]}
            assert {priced[name] for name in first.created} == {
                (6000, "Hetzner cx22 in fsn1, net")}, "the fake's price of a cx22"
            for record in records:  # its time × 6,000 an hour ÷ 2 slots, rounded once
                assert (record["cost_micros"], record["cost_state"]) == (
                    expected_estimate(record, per_hour=6000, slots=2), "estimated")

            def all_ready() -> bool:  # once each worker's heartbeat reached Prefect
                outcome = autoscaler.tick()
                assert outcome.deleted == [] and outcome.created == []  # its hour has begun
                return _states(rgrid) == {"ready"}
            assert wait_for(all_ready, 60, "both workers' heartbeats", every=1)

            for name in first.created:
                fake_hetzner.backdate(name, 3600 - 60)
            last = autoscaler.tick()
            assert sorted(last.deleted) == sorted(first.created)
            assert fake_hetzner.servers == {}
            shown = rgrid("nodes", "--json").json()
            gone = [n for n in shown["nodes"] if n["name"] in first.created]
            assert {n["state"] for n in gone} == {"deleted"}
            assert all("before the end of its billing hour" in n["delete_reason"] for n in gone)
            table = rgrid("nodes")
            assert "deleted" in table.stdout and "idle" in table.stdout
            for token in tokens.values():  # a deleted node's token is dead at once
                assert _status_with(empty_pool_stack, token, ids[0]) == 401
    finally:
        for worker in workers:
            worker.stop()


def _worker_token(user_data: str) -> str:
    [line] = [line for line in user_data.splitlines() if "RGRID_WORKER_TOKEN=" in line]
    return line.split("=", 1)[1].strip()


def _status_with(stack, token: str, execution_id: str) -> int:
    return httpx.get(f"{stack.settings.api_url}/api/v1/worker/executions/{execution_id}/status",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def _states(rgrid) -> set[str]:
    return {n["state"] for n in rgrid("nodes", "--json").json()["nodes"]
            if n["state"] != "deleted"}


def test_a_quota_error_stops_provisioning_for_the_round_and_is_reported(
        empty_pool_stack, fake_hetzner, rgrid_on_empty_pool):
    pool = f"quota-{secrets.token_hex(3)}"
    with SyncPrefectClient(api=empty_pool_stack.settings.prefect_api_url) as prefect:
        prefect.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        deployment = prefect.create_deployment(
            flow_id=prefect.create_flow_from_name(EXECUTE_FLOW), name=pool,
            entrypoint="flows.execute:execute", work_pool_name=pool,
            parameter_openapi_schema=DeploymentCreate.model_fields[
                "parameter_openapi_schema"].default)
        for _ in range(6):
            prefect.create_flow_run_from_deployment(deployment,
                                                    parameters={"execution_id": "none"})
    fake_hetzner.max_servers = 1

    with connected(settings_for(empty_pool_stack, fake_hetzner, work_pool=pool,
                                max_nodes=5)) as autoscaler:
        outcome = autoscaler.tick()

    assert outcome.decision.create == 3 and len(outcome.created) == 1
    assert len(fake_hetzner.made("POST", "/servers")) == 2  # the refused one not retried
    [error] = outcome.errors
    assert "quota" in error
    events = rgrid_on_empty_pool("nodes", "--json").json()["events"]
    assert any(e["kind"] == "error" and "quota" in e["message"]
               and "server limit" in e["message"] for e in events)


FAILURES = {
    "quota": ("✗ Hetzner quota exceeded:", "server limit"),
    "provider error": ("✗ Hetzner API error:", "attempt 2 of 2"),
    "unreachable": ("✗ Hetzner API unreachable:", "attempt 2 of 2"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_following_run_says_why_no_worker_comes_then_that_one_is_being_provisioned(
        empty_pool_stack, fake_hetzner, rgrid_on_empty_pool, tmp_path, failure):
    write_script(tmp_path, "wait.py", f"# {secrets.token_hex(4)}\nprint('ran')\n")
    cli = rgrid_on_empty_pool.start("run", "wait.py")
    said: list[str] = []
    threading.Thread(target=lambda: said.extend(cli.stderr), daemon=True).start()
    worker = None
    try:
        _fail_provisioning(empty_pool_stack, fake_hetzner, failure)
        title, detail = FAILURES[failure]
        wait_for(lambda: any(title in line and detail in line for line in said), 30,
                 f"the CLI to tell: {title}")

        with connected(settings_for(empty_pool_stack, fake_hetzner)) as autoscaler:
            [name] = autoscaler.tick().created
            wait_for(lambda: any(line.startswith("Provisioning worker... (") for line in said),
                     30, "the CLI to tell the provisioning")

            fake_hetzner.boot(name)
            worker = ManagedProcess(name, empty_pool_stack.home)
            empty_pool_stack.start_worker(worker, name)
            assert cli.wait(timeout=120) == 0, said
            assert cli.stdout.read() == "ran\n"

            fake_hetzner.backdate(name, 3600 - 60)
            assert wait_for(lambda: autoscaler.tick().deleted, 60, "the deletion",
                            every=1) == [name]
    finally:
        if worker:
            worker.stop()
        if cli.poll() is None:
            cli.kill()


def _fail_provisioning(stack, fake, failure: str) -> None:
    """Rounds of an autoscaler that cannot provision, until one reported why."""
    endpoint = "http://127.0.0.1:9/v1" if failure == "unreachable" else fake.url
    if failure == "quota":
        fake.max_servers = 0
    if failure == "provider error":
        fake.fail_next("POST", "/servers", status=500, code="server_error", times=2)
    with connected(settings_for(stack, fake, hcloud_endpoint=endpoint,
                                provider_attempts=2, hcloud_timeout_seconds=1)) as failing:
        wait_for(lambda: failing.tick().errors, 30, "a failed round", every=1)
    fake.max_servers = 5
