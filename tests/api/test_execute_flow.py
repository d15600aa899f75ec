"""The execute flow's body against the real API app (SQLite and PostgreSQL) and a real
Docker engine — or an unreachable one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import docker
import pytest

from flows.control_plane import ControlPlane
from flows.execute import run_claimed, run_execution
from flows.sandbox import ATTEMPT_LABEL, EXECUTION_LABEL
from flows.settings import WorkerSettings
from rgrid_common.status import ExecutionStatus
from tests.api.conftest import TEST_WORKER, submit
from tests.cuttable_socket import CuttableSocket
from tests.helpers import wait_for


@pytest.fixture
def control_plane(api, worker_headers) -> Iterator[ControlPlane]:
    api.headers.update(worker_headers)
    yield ControlPlane(api)
    for name in worker_headers:
        api.headers.pop(name, None)


def _worker_settings(tmp_path, **overrides) -> WorkerSettings:
    return WorkerSettings(worker_name=TEST_WORKER, work_root=tmp_path / "work", **overrides)


def test_execution_runs_in_a_container_and_reports_on_either_database(
        alice, control_plane, tmp_path):
    execution = submit(alice, script_content="import sys\nprint('out')\n"
                                             "print('err', file=sys.stderr)\nsys.exit(4)\n")
    status = run_execution(execution["id"], flow_run_id="fr-1",
                           settings=_worker_settings(tmp_path), control_plane=control_plane)
    assert status.value == "failed"
    final = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (final["status"], final["exit_code"], final["worker"]) == ("failed", 4, "node-7")
    logs = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    assert sorted((c["stream"], c["data"]) for c in logs) == [("stderr", "err\n"),
                                                              ("stdout", "out\n")]
    assert not any((tmp_path / "work").iterdir()), "the work directory was not removed"


def test_a_second_flow_run_does_not_run_a_claimed_execution(alice, control_plane, tmp_path):
    execution = submit(alice)
    settings = _worker_settings(tmp_path)
    assert run_execution(execution["id"], flow_run_id="fr-1", settings=settings,
                         control_plane=control_plane).value == "succeeded"
    assert run_execution(execution["id"], flow_run_id="fr-2", settings=settings,
                         control_plane=control_plane) is None


def test_an_unreachable_docker_engine_is_retried_then_fails_with_the_cause_and_fix(
        alice, control_plane, tmp_path):
    execution = submit(alice)
    settings = _worker_settings(tmp_path, docker_host=f"unix://{tmp_path}/no-docker.sock")
    statuses = [run_execution(execution["id"], flow_run_id=f"fr-{n}", settings=settings,
                              control_plane=control_plane).value for n in (1, 2, 3)]

    assert statuses == ["queued", "queued", "failed"], "two automatic retries, then failed"
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert state["error"].startswith("attempt 3 on node-7: Docker engine not reachable on "
                                     "worker 'node-7'")
    assert "Start Docker on the worker" in state["error"]
    assert len(state["retried_errors"]) == 2


def test_output_beyond_the_cap_is_dropped_with_a_note(alice, control_plane, tmp_path):
    execution = submit(alice, script_content="print('x' * 5000)\nprint('tail')\n")
    settings = _worker_settings(tmp_path, max_log_chars=1000)
    assert run_execution(execution["id"], flow_run_id="fr-1", settings=settings,
                         control_plane=control_plane).value == "succeeded"
    chunks = alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"]
    text = "".join(c["data"] for c in chunks)
    assert text.startswith("x" * 1000)
    assert "output truncated after 1,000 characters" in text
    assert "tail" not in text and len(text) < 1100


def test_an_attempt_given_to_another_worker_is_stopped_and_its_result_dropped(
        alice, control_plane, tmp_path, worker_headers, api):
    execution = submit(alice, script_content="import time\ntime.sleep(120)\n")
    settings = _worker_settings(tmp_path, heartbeat_seconds=0.2)
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(run_execution(
        execution["id"], flow_run_id="fr-slow", settings=settings,
        control_plane=control_plane)))
    runner.start()
    engine = docker.from_env()
    labels = {"label": [f"{EXECUTION_LABEL}={execution['id']}", f"{ATTEMPT_LABEL}=1"]}
    deadline = time.monotonic() + 60
    while not engine.containers.list(filters=labels) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert engine.containers.list(filters=labels), "the attempt's container started"

    given = api.post(f"/api/v1/worker/executions/{execution['id']}/give-back",
                     json={"attempt": 1, "reason": "the worker stopped responding"},
                     headers=worker_headers)  # what the sweep does to a silent worker
    runner.join(timeout=60)

    assert given.status_code == 204 and not runner.is_alive(), "stopped, not run to the end"
    assert outcome == [ExecutionStatus.QUEUED]
    assert engine.containers.list(all=True, filters=labels) == []
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"], state["exit_code"]) == ("queued", 2, None)


def test_a_failure_that_would_repeat_fails_at_once_without_retries(
        alice, control_plane, tmp_path):
    """The engine refusing the container (here: its command does not exist in the image)
    fails the same way on every node, so it is not given back for another attempt."""
    execution = submit(alice)
    job = control_plane.claim(execution["id"], flow_run_id="fr-1", worker="node-7")
    job = job.model_copy(update={"command": ["/no/such/interpreter"]})

    status = run_claimed(job, settings=_worker_settings(tmp_path), control_plane=control_plane)

    assert status == ExecutionStatus.FAILED
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"], state["retried_errors"]) == ("failed", 1, [])
    assert state["error"].startswith("internal error: APIError")
    assert state["error"].endswith("(not retried: it would fail the same way again)")


def test_an_engine_lost_mid_run_is_retried_not_taken_for_a_timeout(
        alice, control_plane, tmp_path):
    execution = submit(alice, script_content="import time\ntime.sleep(120)\n")
    engine = docker.from_env()
    labels = {"label": [f"{EXECUTION_LABEL}={execution['id']}", f"{ATTEMPT_LABEL}=1"]}
    outcome: list = []
    with CuttableSocket(tmp_path / "engine.sock") as relay:
        waiting = relay.heard(b"/wait")
        settings = _worker_settings(tmp_path, docker_host=relay.url)
        runner = threading.Thread(target=lambda: outcome.append(run_execution(
            execution["id"], flow_run_id="fr-1", settings=settings,
            control_plane=control_plane)))
        runner.start()
        wait_for(lambda: engine.containers.list(filters=labels), 60, "the container running")
        # cut once the worker waits on the container: cut before, the wait would go
        # through after it and last the script's 120 s (the CI failure of 8c3f62f)
        assert waiting.wait(60), "the worker never waited on its container"

        assert relay.cut() > 0  # the engine "restarts": what was open breaks
        runner.join(timeout=60)

    assert not runner.is_alive() and outcome == [ExecutionStatus.QUEUED]
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"]) == ("queued", 2), "retried, not timed out"
    assert "The Docker engine went away while" in state["retried_errors"][0]
    assert engine.containers.list(all=True, filters=labels) == [], "and its container removed"


def test_a_script_printing_200_mb_keeps_the_first_max_log_chars_and_says_so(
        alice, control_plane, tmp_path):
    """The log shipper's requests stay under the API's request limit however much is
    printed, so the kept part arrives whole, in order, with the note saying where it
    stops."""
    line = "x" * 1023 + "\n"
    execution = submit(alice, script_content=(
        "import sys\n"
        f"line = {line!r}\n"
        "for n in range(200 * 1024):\n"
        "    sys.stdout.write(line)\n"
        "print('the end')\n"))
    settings = _worker_settings(tmp_path)

    assert run_execution(execution["id"], flow_run_id="fr-1", settings=settings,
                         control_plane=control_plane).value == "succeeded"

    text, after = [], -1
    while page := alice.get(f"/api/v1/executions/{execution['id']}/logs",
                            params={"after": after, "limit": 1000}).json()["chunks"]:
        text += [chunk["data"] for chunk in page if chunk["stream"] == "stdout"]
        after = page[-1]["seq"]
    text = "".join(text)
    kept = settings.max_log_chars
    note = f"\n[rgrid: output truncated after {kept:,} characters]\n"
    assert text == (line * (kept // len(line) + 1))[:kept] + note
