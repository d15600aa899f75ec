"""``rgrid cancel`` on the real stack: a queued execution never starts, a running one's
container is stopped and what it wrote is kept, a batch stops whole; each flow run ends
Cancelled in Prefect. Each test waits on states, never on time."""

from __future__ import annotations

import re
import secrets
from uuid import UUID

import docker
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType

from flows.sandbox import EXECUTION_LABEL
from tests.conftest import write_script
from tests.helpers import Rgrid, wait_for, with_flow_run, worker_stopped

LONG = """\
import pathlib, time
pathlib.Path("partial.txt").write_text("half done\\n")
print("started", flush=True)
time.sleep(600)
pathlib.Path("never.txt").write_text("the script was not stopped\\n")
"""


def _flow_run_state(stack, flow_run_id: str) -> StateType | None:
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    return state.type if state else None


def _containers_of(execution_ids: list[str]) -> list:
    engine = docker.from_env()
    try:
        # sparse: the listing alone (inspecting each, one removed in between is NotFound)
        return [c for c in engine.containers.list(all=True, sparse=True)
                if (c.attrs.get("Labels") or {}).get(EXECUTION_LABEL) in execution_ids]
    finally:
        engine.close()


def _status(rgrid: Rgrid, execution_id: str) -> dict:
    return rgrid("status", execution_id, "--json").json()


def test_a_running_execution_is_stopped_and_what_it_wrote_is_kept(rgrid: Rgrid, tmp_path,
                                                                   stack):
    name = f"long_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, LONG)
    execution = rgrid("run", name, "--detach", "--json").json()
    wait_for(lambda: "started" in rgrid("logs", execution["id"]).stdout, 120,
             "the script to start")

    execution = with_flow_run(rgrid, execution["id"])
    result = rgrid("cancel", execution["id"])

    assert result.exit_code == 0, result.stderr
    assert f"Cancelled {execution['id']}." in result.stdout
    wait_for(lambda: _flow_run_state(stack, execution["flow_run_id"]) == StateType.CANCELLED,
             120, "its flow run to end Cancelled")
    done = _status(rgrid, execution["id"])
    assert (done["status"], done["error"]) == ("cancelled",
                                               "cancelled by its owner (rgrid cancel)")
    assert not _containers_of([execution["id"]]), "its container is stopped and removed"
    outputs = [a["path"] for a in rgrid("artifacts", execution["id"], "--json").json()
               if a["kind"] == "output"]
    assert outputs == ["partial.txt"], "what it wrote before it was stopped is kept"
    logs = rgrid("logs", execution["id"])
    assert "started" in logs.stdout
    assert "[rgrid] cancelled by its owner (rgrid cancel): attempt 1" in logs.stderr

    again = rgrid("cancel", execution["id"])
    assert again.exit_code == 0, again.stderr
    assert "had already finished (cancelled); nothing to cancel" in again.stdout


def test_a_queued_execution_never_starts(rgrid: Rgrid, tmp_path, stack):
    """The pool's only worker is stopped, so the execution waits; cancelled, its flow run
    is Cancelled and the worker, back, never runs it (a run submitted after it does)."""
    name = f"queued_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, "open('out.txt', 'w').write('ran')\n")
    with worker_stopped(stack):
        waiting = with_flow_run(rgrid, rgrid("run", name, "--detach", "--json").json()["id"])
        result = rgrid("cancel", waiting["id"])

    assert result.exit_code == 0 and f"Cancelled {waiting['id']}." in result.stdout
    later = rgrid("run", name, "--json")
    assert later.json()["status"] == "succeeded", later.stderr
    assert _flow_run_state(stack, waiting["flow_run_id"]) == StateType.CANCELLED
    never = _status(rgrid, waiting["id"])
    assert (never["status"], never["started_at"], never["worker"]) == ("cancelled", None, None)
    assert "cancelled by its owner" in rgrid("logs", waiting["id"]).stderr


def test_a_batch_stops_whole(rgrid: Rgrid, tmp_path, stack):
    name = f"batch_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, LONG)
    for index in range(5):
        (tmp_path / f"f{index}.txt").write_text(f"file {index}\n")
    started = rgrid("run", name, "--batch", "*.txt", "--parallel", "2", "--detach")
    assert started.exit_code == 0, started.stderr
    batch_id = re.search(r"bat_[0-9a-f]{16}", started.stderr).group(0)

    def items() -> list[dict]:
        return [e for e in rgrid("list", "--json", "--limit", "100").json()
                if e["batch_id"] == batch_id]

    wait_for(lambda: [e for e in items() if e["status"] == "running"], 120, "an item to run")
    result = rgrid("cancel", batch_id)

    assert result.exit_code == 0, result.stderr
    assert f"Cancelled batch {batch_id}: 5 items" in result.stdout
    batch = rgrid("status", batch_id, "--json").json()
    assert batch["status"] == "cancelled" and batch["counts"]["cancelled"] == 5
    wait_for(lambda: _flow_run_state(stack, batch["flow_run_id"]) == StateType.CANCELLED,
             120, "the coordinator's flow run to end Cancelled")
    ran = [e["id"] for e in items() if e["started_at"]]
    wait_for(lambda: not _containers_of(ran), 60, "the running items' containers to go")
    assert all(e["status"] == "cancelled" for e in items())
    watched = rgrid("watch", batch_id)
    assert "Batch cancelled: 0 succeeded, 5 failed (5 cancelled)" in watched.stderr, \
        "following a cancelled batch ends, saying so"
