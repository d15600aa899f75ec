"""Batches end to end: the real CLI, a real pool of two (at times three) workers, real
containers, a real Prefect schedule."""

from __future__ import annotations

import os
import secrets
import signal
from datetime import datetime
from pathlib import Path

import docker
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterName, TaskRunFilter,
                                            TaskRunFilterName)
from prefect.client.schemas.objects import FlowRun, StateType, TaskRun
from prefect.states import Pending

from devstack.processes import ManagedProcess
from flows.disk import OWNER_MARK
from flows.sandbox import WORKER_LABEL
from flows.settings import WorkerSettings
from tests.conftest import write_script
from tests.helpers import Rgrid, wait_for, worker_polling, worker_stopped
from work_pools import PROCESS_POOL

PROCESS = """\
import pathlib, sys, time
text = pathlib.Path(sys.argv[1]).read_text()
time.sleep(0.5)
if text.startswith("bad"):
    raise SystemExit(f"bad input {pathlib.Path(sys.argv[1]).name}")
pathlib.Path("result.txt").write_text(text.upper())
"""


def _max_overlap(executions: list[dict]) -> int:
    events = []
    for e in executions:
        events += [(datetime.fromisoformat(e["started_at"]), 1),
                   (datetime.fromisoformat(e["finished_at"]), -1)]
    running = peak = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_a_batch_fans_out_over_the_pool_within_its_parallel_bound(rgrid: Rgrid, tmp_path,
                                                                  second_worker):
    write_script(tmp_path, "process.py", PROCESS.replace("0.5", "0.1"))
    (tmp_path / "data" / "more").mkdir(parents=True)
    for index in range(96):
        (tmp_path / "data" / f"in{index}.csv").write_text(f"row {index}\n")
    (tmp_path / "data" / "more" / "in0.csv").write_text("bad a\n")
    for name in ("broken", "bad1", "bad2", "bad3"):
        (tmp_path / "data" / "more" / f"{name}.csv").write_text(f"bad {name}\n")

    result = rgrid("run", "process.py", "--batch", "data/**/*.csv", "--batch", "data/in1.csv",
                   "--parallel", "3", timeout=900)

    assert result.exit_code == 0, result.stderr
    assert "Starting batch bat_" in result.stderr and "101 files, 3 parallel" in result.stderr
    assert "96 succeeded, 5 failed" in result.stderr
    assert "Outputs kept remotely" not in result.stderr, "they were downloaded"
    assert "data/more/broken.csv" in result.stderr and "bad input broken.csv" in result.stderr
    outputs = tmp_path / "outputs"
    assert (outputs / "data__in0" / "result.txt").read_text() == "ROW 0\n"
    for index in range(1, 96):
        assert (outputs / f"in{index}" / "result.txt").read_text() == f"ROW {index}\n"
    assert not (outputs / "data__more__in0").exists() and not (outputs / "broken").exists()
    assert len(list(outputs.rglob("*"))) == 96 * 2, "96 folders, one result each"

    items = [e for e in rgrid("list", "--json", "--limit", "500").json()
             if e["batch_id"] and e["batch_id"] in result.stderr]
    assert len(items) == 101
    failed_ids = (tmp_path / "batch_failures.txt").read_text().split()
    assert sorted(failed_ids) == sorted(e["id"] for e in items if e["status"] == "failed")
    assert len(failed_ids) == 5
    assert _max_overlap(items) <= 3
    assert {e["worker"] for e in items} == {"rgrid-test-worker", second_worker}


def test_items_are_task_runs_only_on_a_worker_started_with_items_as_tasks(
        rgrid: Rgrid, tmp_path, stack, monkeypatch):
    """By default an item is a line of its shard's log, not a Prefect task run (a task
    costs more than the 50 ms an item the issue allows: README, Batch throughput). A worker
    started with ``RGRID_ITEMS_AS_TASKS=true`` runs each attempt as a task run named by the
    item, in the flow run of one of its batch's shards (``flows.batch.run_item_as_task``)."""
    write_script(tmp_path, "tasked.py", "import sys\nprint(open(sys.argv[1]).read())\n")
    for index in range(2):
        (tmp_path / f"u{index}.txt").write_text(f"{secrets.token_hex(8)}\n")
    for index in range(3):
        (tmp_path / f"t{index}.txt").write_text(f"{secrets.token_hex(8)}\n")

    assert rgrid("run", "tasked.py", "--batch", "u*.txt", "--no-cache").exit_code == 0
    untasked = _batch_items(rgrid, _batch_of(rgrid, "tasked.py"))
    tasked_worker = ManagedProcess("worker-tasked", stack.home)
    with worker_stopped(stack):
        try:
            monkeypatch.setenv("RGRID_ITEMS_AS_TASKS", "true")
            stack.start_worker(tasked_worker, TASKED_WORKER)
            monkeypatch.delenv("RGRID_ITEMS_AS_TASKS")  # the stack's own workers, restarted
            result = rgrid("run", "tasked.py", "--batch", "t*.txt", "--no-cache",
                           "--parallel", "2")
        finally:
            tasked_worker.stop()

    assert result.exit_code == 0, result.stderr
    batch_id = _batch_of(rgrid, "tasked.py")  # the newest such batch
    items = _batch_items(rgrid, batch_id)
    assert {e["worker"] for e in items} == {TASKED_WORKER}
    assert TASKED_WORKER not in {e["worker"] for e in untasked}
    # Prefect's recorder writes task runs from their events in order, up to a second late
    # (devstack.stack.PREFECT_SERVER_TUNING): once the later batch's are all there in their
    # last state, the first batch's would be too.
    runs = wait_for(lambda: _recorded(_item_task_runs(stack, items), len(items)), timeout=30,
                    what="the items' task runs, ended",
                    explain=lambda: str([(r.name, r.state_type)
                                         for r in _item_task_runs(stack, items)]))
    assert sorted(run.name for run in runs) == sorted(f"{e['id']} attempt 1" for e in items)
    assert {run.state.type for run in runs} == {StateType.COMPLETED}
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
        shards = {prefect.read_flow_run(run.flow_run_id).name for run in runs}
    assert all(name.startswith(f"{batch_id}-shard-") for name in shards), shards
    assert _item_task_runs(stack, untasked) == []


TASKED_WORKER = "rgrid-test-tasked"


def _recorded(runs: list[TaskRun], count: int) -> list[TaskRun] | None:
    """``runs``, once there are ``count`` of them, each in its last state."""
    ended = [run for run in runs if run.state is not None and run.state.is_final()]
    return runs if len(runs) == count and len(ended) == count else None


def _item_task_runs(stack, items: list[dict]) -> list[TaskRun]:
    names = [f"{e['id']} attempt {e['attempt']}" for e in items]
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
        return prefect.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=names)), limit=len(names))


SLOW = """\
import pathlib, sys, time
time.sleep(3)
pathlib.Path("result.txt").write_text(pathlib.Path(sys.argv[1]).read_text().upper())
"""


def _restart(stack, process: ManagedProcess, name: str) -> None:
    process.stop()
    stack.start_worker(process, name)


def _batch_items(rgrid: Rgrid, batch_id: str) -> list[dict]:
    return [e for e in rgrid("list", "--json", "--limit", "200").json()
            if e["batch_id"] == batch_id]


def _batch_of(rgrid: Rgrid, script_name: str, status: str | None = None) -> str | None:
    """The batch running ``script_name`` (each test here uses a name of its own)."""
    return next((e["batch_id"] for e in rgrid("list", "--json").json()
                 if e["batch_id"] and e["script_name"] == script_name
                 and status in (None, e["status"])), None)


@pytest.mark.slow
def test_a_worker_killed_mid_item_costs_a_retry_not_the_item(rgrid: Rgrid, tmp_path, stack,
                                                             second_worker):
    """Whichever worker runs the first item is killed (the batch's coordinator is on the
    control pool, out of reach); a third worker keeps the pool's capacity. The killed one
    is started again after, whatever happened (the stack's other tests need it), and
    removes the container its earlier life left."""
    workers = {"rgrid-test-worker": stack.processes["worker"],
               second_worker: ManagedProcess("worker-2", stack.home),
               "rgrid-test-worker-3": ManagedProcess("worker-3", stack.home)}
    stack.start_worker(workers["rgrid-test-worker-3"], "rgrid-test-worker-3")
    write_script(tmp_path, "survivor.py", SLOW)
    for index in range(12):
        (tmp_path / f"f{index}.txt").write_text(f"file {index}\n")
    victim = None
    try:
        wait_for(lambda: worker_polling(stack.settings.prefect_api_url, PROCESS_POOL.name,
                                        "rgrid-test-worker-3"), 60, "the third worker")
        run = rgrid.start("run", "survivor.py", "--batch", "*.txt", "--parallel", "4")
        batch_id = wait_for(lambda: _batch_of(rgrid, "survivor.py"), 60, "the batch")
        victim = wait_for(lambda: next((e for e in _batch_items(rgrid, batch_id)
                                         if e["status"] == "running"), None),
                           120, "an item running")
        os.killpg(workers[victim["worker"]].pid, signal.SIGKILL)

        _, stderr = run.communicate(timeout=600)
        assert _containers_of(victim["worker"]), "the killed worker's container outlives it"
        assert _allowances_of(victim["worker"]), "and so does its /work filesystem"
        _restart(stack, workers[victim["worker"]], victim["worker"])
        wait_for(lambda: not _containers_of(victim["worker"])
                 and not _allowances_of(victim["worker"]), 60,
                 "the restarted worker to remove what its earlier life left")
    finally:
        if victim and workers[victim["worker"]].pid is None:  # failed before its restart
            _restart(stack, workers[victim["worker"]], victim["worker"])
        workers["rgrid-test-worker-3"].stop()

    assert run.returncode == 0, stderr
    assert "12 succeeded, 0 failed" in stderr
    items = {e["id"]: e for e in _batch_items(rgrid, batch_id)}
    retried = items[victim["id"]]
    assert (retried["status"], retried["attempt"]) == ("succeeded", 2)
    assert retried["retried_errors"] == [
        f"attempt 1 on {victim['worker']}: the worker stopped responding"]
    assert retried["worker"] != victim["worker"]
    assert all(e["status"] == "succeeded" for e in items.values())
    for index in range(12):
        folder = tmp_path / "outputs" / f"f{index}"
        assert [p.name for p in folder.iterdir()] == ["result.txt"], "completed once"
    logs = rgrid("logs", victim["id"])
    assert "the worker stopped responding; retrying (attempt 2 of 3)" in logs.stdout + logs.stderr


def test_a_shard_taken_by_a_worker_that_died_is_replaced(rgrid: Rgrid, tmp_path, stack):
    """The pool's only worker is stopped, so the batch's one shard waits; it is moved to
    Pending through Prefect's API, as a worker that took it and died would leave it
    (Prefect never ends such a run). The coordinator, lost_after_seconds later, marks it
    Crashed and starts another, which the worker, back, runs; counted live, the lost one
    would hold the batch's only slot forever."""
    write_script(tmp_path, "orphaned_shard.py", SLOW)
    for index in range(2):
        (tmp_path / f"g{index}.txt").write_text(f"file {index}\n")
    with worker_stopped(stack), SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
        rgrid("run", "orphaned_shard.py", "--batch", "g*.txt", "--parallel", "1", "--detach")
        batch_id = wait_for(lambda: _batch_of(rgrid, "orphaned_shard.py"), 60, "the batch")
        first = wait_for(lambda: _shard(prefect, batch_id, 0), 60, "the first shard")
        prefect.set_flow_run_state(first.id, Pending(), force=True)
        wait_for(lambda: _shard(prefect, batch_id, 1), 120, "a second shard", every=1)
        lost = prefect.read_flow_run(first.id)

    assert lost.state.type == StateType.CRASHED, lost.state
    assert lost.state.message == "its worker took it and was not heard from again"
    done = wait_for(lambda: (lambda b: b if b["status"] == "finished" else None)(
        rgrid("status", batch_id, "--json").json()), 180, "the batch to finish", every=1)
    assert done["counts"]["succeeded"] == 2, done
    assert all(e["attempt"] == 1 for e in _batch_items(rgrid, batch_id)), "no item was lost"


def _shard(prefect: SyncPrefectClient, batch_id: str, number: int) -> FlowRun | None:
    runs = prefect.read_flow_runs(flow_run_filter=FlowRunFilter(
        name=FlowRunFilterName(any_=[f"{batch_id}-shard-{number}"])), limit=1)
    return runs[0] if runs else None


def _allowances_of(worker: str) -> list[Path]:
    return list(WorkerSettings().work_root.glob(f"*{OWNER_MARK}{worker}.img"))


def _containers_of(worker: str) -> list:
    """Sparse: the listing alone. Not sparse, the SDK inspects each container listed, and
    one the restarted worker removes in between fails the test with NotFound."""
    return docker.from_env().containers.list(all=True, sparse=True,
                                             filters={"label": f"{WORKER_LABEL}={worker}"})


def test_ctrl_c_detaches_and_the_batch_goes_on(rgrid: Rgrid, tmp_path, second_worker):
    write_script(tmp_path, "detachable.py", SLOW)
    for index in range(4):
        (tmp_path / f"f{index}.txt").write_text(f"file {index}\n")
    run = rgrid.start("run", "detachable.py", "--batch", "*.txt", "--parallel", "2")
    batch_id = wait_for(lambda: _batch_of(rgrid, "detachable.py", status="running"), 60,
                         "the batch to start running")

    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=30)

    assert run.returncode == 130, stderr
    assert f"Detached; batch {batch_id} goes on" in stderr
    assert f"rgrid watch {batch_id}" in stderr
    watched = rgrid("watch", batch_id, timeout=300)
    assert watched.exit_code == 0, watched.stderr
    assert "4 succeeded, 0 failed" in watched.stderr
    assert {e["status"] for e in _batch_items(rgrid, batch_id)} == {"succeeded"}


def test_an_empty_glob_is_refused_before_anything_is_submitted(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    result = rgrid("run", "process.py", "--batch", "nothing/*.csv")
    assert result.exit_code == 2
    assert "No files match 'nothing/*.csv'" in result.stderr
    assert "quote it" in result.stderr


def test_when_every_item_fails_the_exit_code_is_1(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "x.csv").write_text("bad x\n")
    result = rgrid("run", "process.py", "--batch", "*.csv", timeout=300)
    assert result.exit_code == 1
    assert "0 succeeded, 1 failed" in result.stderr


def test_retry_of_a_batch_reruns_exactly_the_failed_items(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    for name, text in (("a.csv", "fine\n"), ("b.csv", "bad b\n"), ("c.csv", "bad c\n")):
        (tmp_path / name).write_text(text)
    first = rgrid("run", "process.py", "--batch", "*.csv", timeout=300)
    failed_ids = set((tmp_path / "batch_failures.txt").read_text().split())
    assert first.exit_code == 0 and len(failed_ids) == 2

    original_batch = rgrid("list", "--json").json()[0]["batch_id"]
    again = rgrid("retry", "--batch", original_batch, timeout=300)

    assert again.exit_code == 1, again.stderr  # the same inputs fail the same way
    assert "Retrying 2 failed items of" in again.stderr
    retried = [e for e in rgrid("list", "--json").json() if e["retry_of"]][:2]
    assert {e["retry_of"] for e in retried} == failed_ids
    assert len({e["batch_id"] for e in retried}) == 1
    assert retried[0]["batch_id"] != original_batch


def test_retry_of_one_execution_runs_it_again_with_its_inputs(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "one.csv").write_text("one\n")
    first = rgrid("run", "process.py", "one.csv")
    original = rgrid("list", "--json").json()[0]["id"]

    again = rgrid("retry", original)

    assert first.exit_code == again.exit_code == 0, again.stderr
    retried = rgrid("list", "--json").json()[0]
    assert retried["retry_of"] == original and retried["id"] != original
    assert (tmp_path / "result.txt").read_text() == "ONE\n"
    assert not (tmp_path / "result (1).txt").exists(), "the same output is not fetched twice"


def test_fail_fast_cancels_what_has_not_started(rgrid: Rgrid, tmp_path):
    write_script(tmp_path, "process.py", PROCESS)
    (tmp_path / "a.csv").write_text("bad first\n")
    for name in ("b", "c", "d", "e", "f"):
        (tmp_path / f"{name}.csv").write_text(f"{name}\n")

    result = rgrid("run", "process.py", "--batch", "*.csv", "--parallel", "1", "--fail-fast",
                   timeout=300)

    batch_id = rgrid("list", "--json").json()[0]["batch_id"]
    items = [e for e in rgrid("list", "--json", "--limit", "100").json()
             if e["batch_id"] == batch_id]
    statuses = sorted(e["status"] for e in items)
    assert statuses.count("failed") == 1 and statuses.count("cancelled") >= 4, statuses
    assert "cancelled" in result.stderr
    assert all("--fail-fast" in (e["error"] or "") for e in items if e["status"] == "cancelled")


def test_a_schedule_fires_a_batch_until_it_is_deleted(rgrid: Rgrid, tmp_path, second_worker):
    write_script(tmp_path, "recurring.py", PROCESS)
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        (tmp_path / "in" / f"{name}.csv").write_text(f"{name}\n")

    created = rgrid("schedule", "create", "recurring.py", "--batch", "in/*.csv", "--every", "10")

    assert created.exit_code == 0, created.stderr
    schedule_id = created.stdout.strip()
    assert schedule_id.startswith("sch_") and "over 2 files, every 10 s" in created.stderr
    listed = rgrid("schedule", "list")
    assert schedule_id in listed.stdout and "every 10 s" in listed.stdout
    batch_id = wait_for(lambda: _batch_of(rgrid, "recurring.py"), 120, "the schedule to fire")
    assert rgrid("status", batch_id, "--json").json()["schedule_id"] == schedule_id
    watched = rgrid("watch", batch_id, timeout=300)
    assert watched.exit_code == 0 and "2 succeeded, 0 failed" in watched.stderr

    deleted = rgrid("schedule", "delete", schedule_id)
    assert deleted.exit_code == 0, deleted.stderr
    assert schedule_id not in rgrid("schedule", "list").stdout + rgrid("schedule", "list").stderr
    again = rgrid("schedule", "delete", schedule_id)
    assert again.exit_code == 1 and "not found" in again.stderr



def test_the_readme_batch_example_leaves_one_folder_per_input(rgrid: Rgrid, tmp_path):
    examples = Path(__file__).resolve().parents[2] / "examples"

    result = rgrid("run", str(examples / "word_count.py"), "--batch",
                   str(examples / "data" / "*.txt"), "--parallel", "3", timeout=300)

    assert result.exit_code == 0, result.stderr
    assert "3 files, 3 parallel" in result.stderr and "3 succeeded, 0 failed" in result.stderr
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["fox", "rain", "sample"]
    rows = (tmp_path / "outputs" / "fox" / "word_counts.csv").read_text().splitlines()
    assert rows[:3] == ["word,count", "the,5", "fox,3"]


def test_a_batchs_outputs_are_downloaded_later_into_their_folders_once(rgrid: Rgrid,
                                                                        tmp_path):
    """`rgrid download bat_…` picks up where a follower stopped: each item's outputs in
    the folder the run would have used; a file already there is not fetched again."""
    write_script(tmp_path, "process.py", PROCESS.replace("0.5", "0"))
    (tmp_path / "in").mkdir()
    for index in range(4):
        (tmp_path / "in" / f"part{index}.txt").write_text(f"part {index}\n")
    ran = rgrid("run", "process.py", "--batch", "in/*.txt", "--remote-only", timeout=300)
    assert ran.exit_code == 0, ran.stderr
    batch_id = ran.stderr.split("Starting batch ")[1].split(":")[0]
    assert not (tmp_path / "outputs").exists()
    assert "Outputs kept remotely" in ran.stderr

    first = rgrid("download", batch_id, timeout=300)
    again = rgrid("download", batch_id, timeout=300)

    assert first.exit_code == 0 and again.exit_code == 0, first.stderr + again.stderr
    assert "Downloaded 4 outputs" in first.stderr
    for index in range(4):
        assert (tmp_path / "outputs" / f"part{index}" / "result.txt").read_text() \
            == f"PART {index}\n"
    assert len(list((tmp_path / "outputs").rglob("*"))) == 8, "no second copy made"
