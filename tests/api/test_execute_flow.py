"""The execute flow's body against the real API app (SQLite and PostgreSQL) and a real
Docker engine — or an unreachable one."""

from __future__ import annotations

import threading
import time

import docker

from flows.execute import run_claimed, run_execution
from flows.sandbox import ATTEMPT_LABEL, EXECUTION_LABEL
from flows.settings import WorkerSettings
from rgrid_api.core.db import session_scope
from rgrid_api.models import Execution
from rgrid_common.status import ExecutionStatus
from tests.api.conftest import TEST_WORKER, StorageBehindRelay, submit
from tests.cuttable_socket import CuttableSocket
from tests.helpers import wait_for


def _worker_settings(tmp_path, **overrides) -> WorkerSettings:
    return WorkerSettings(worker_name=TEST_WORKER, work_root=tmp_path / "work", **overrides)


def test_execution_runs_in_a_container_and_reports_on_either_database(
        alice, control_plane, tmp_path):
    execution = submit(alice, script_content="import sys\nprint('out')\n"
                                             "print('err', file=sys.stderr)\nsys.exit(4)\n")
    # A line's two writes (its text, its newline) are sent as one chunk, unless the
    # newline comes log_flush_seconds later: long enough here that a busy machine
    # cannot split them.
    status = run_execution(execution["id"], flow_run_id="fr-1",
                           settings=_worker_settings(tmp_path, log_flush_seconds=5),
                           control_plane=control_plane)
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


def _heartbeat_at(api_settings, execution_id: str):
    for session in session_scope(api_settings.database_url):
        return session.get(Execution, execution_id).heartbeat_at


def _run_until_the_report_waits(storage: StorageBehindRelay, execution: dict, tmp_path,
                                api_settings) -> tuple[threading.Thread, list, bytes]:
    """Runs the execution on a thread until its report is refused for the storage being
    away (503, sent again) and a heartbeat has come in since: the beats go on."""
    checks = storage.output_checks(execution["id"])
    refused = storage.relay.refuse(checks)
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(run_execution(
        execution["id"], flow_run_id="fr-1", control_plane=storage.control_plane,
        settings=_worker_settings(tmp_path, heartbeat_seconds=0.2))))
    runner.start()
    storage.runners.append(runner)
    assert refused.wait(120), "the API never checked the outputs in storage"
    checked_at = _heartbeat_at(api_settings, execution["id"])
    wait_for(lambda: _heartbeat_at(api_settings, execution["id"]) > checked_at, 60,
             "a heartbeat while the report waits on the storage")
    return runner, outcome, checks


def test_the_heartbeats_go_on_while_the_report_waits_for_the_storage(
        alice, storage_behind_relay, tmp_path, api_settings):
    """The API checks an attempt's outputs in storage before it takes the report; with
    the storage away it answers 503 and the worker sends the report again. A worker
    silent meanwhile would have its finished attempt given to another and run twice
    (the chaos suite's S3 fault, CI of f0f9294)."""
    execution = submit(alice, script_content="open('result.txt', 'w').write('done')\n")
    runner, outcome, checks = _run_until_the_report_waits(
        storage_behind_relay, execution, tmp_path, api_settings)

    storage_behind_relay.relay.allow(checks)
    runner.join(timeout=120)

    assert outcome == [ExecutionStatus.SUCCEEDED]
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"], state["retried_errors"]) == ("succeeded", 1, [])
    [output] = storage_behind_relay.api.get(
        f"/api/v1/executions/{execution['id']}/artifacts", params={"kind": "output"},
        headers={"Authorization": f"Bearer {alice.key}"}).json()["artifacts"]
    assert output["path"] == "result.txt"


def test_a_report_that_waited_past_its_attempt_is_dropped_without_failing_the_worker(
        alice, storage_behind_relay, tmp_path, api_settings, api, worker_headers):
    """Given to another worker while its report waited (the API's sweep, a cut network),
    the attempt hears 409 when the report goes through: its result is dropped and the
    flow run ends well, rather than crashing a batch's shard with the error."""
    execution = submit(alice, script_content="open('result.txt', 'w').write('done')\n")
    runner, outcome, checks = _run_until_the_report_waits(
        storage_behind_relay, execution, tmp_path, api_settings)

    given = api.post(f"/api/v1/worker/executions/{execution['id']}/give-back",
                     json={"attempt": 1, "reason": "the worker stopped responding"},
                     headers=worker_headers)  # what the sweep does to a silent worker
    storage_behind_relay.relay.allow(checks)
    runner.join(timeout=120)

    assert given.status_code == 204 and not runner.is_alive()
    assert outcome == [ExecutionStatus.QUEUED], "the report refused, the attempt dropped"
    state = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (state["status"], state["attempt"]) == ("queued", 2)
