"""The real CLI over real HTTP against an API whose clock the test moves: the expiry
warning, limits that refuse a file before anything is submitted, a batch of more files than
one upload offer holds, and a batch's outputs brought back whatever order the finishes
were stamped and committed in, listed beside its live stream rather than on its thread."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

from pathlib import Path

import httpx
import pytest
import uvicorn

from cli.batch import BatchDownloader, follow_batch
from cli.client import ApiClient
from cli.config import CliSettings
from flows.control_plane import ControlPlane
from flows.outputs import upload_outputs
from flows.work_dir import LocalOutput
from rgrid_api.core.events import BUS, batch_topic
from rgrid_api.main import create_app
from rgrid_common.protocol import FinishRequest, JobSpec
from rgrid_common.status import ExecutionStatus
from rgrid_common.submission import MAX_BLOBS_PER_OFFER
from tests.api.conftest import TEST_WORKER
from tests.conftest import write_script
from tests.helpers import Rgrid, free_port, wait_for

MAX_FILE_BYTES = 1_000_000


@pytest.fixture
def served_api(api_settings, clock) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = api_settings.model_copy(update={"public_url": url,
                                               "max_file_bytes": MAX_FILE_BYTES})
    server = uvicorn.Server(uvicorn.Config(create_app(settings, clock=clock), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def alice_cli(served_api, alice, tmp_path) -> Rgrid:
    return Rgrid(tmp_path / "no-config.json", tmp_path,
                 env={"RGRID_API_URL": served_api, "RGRID_API_KEY": alice.key})


def test_the_cli_warns_before_an_artifact_expires_and_says_when_it_has(alice_cli, clock,
                                                                       tmp_path):
    write_script(tmp_path, "read.py", "import sys\nprint(open(sys.argv[1]).read())\n")
    (tmp_path / "in.csv").write_text("x\n1\n")
    submitted = alice_cli("run", "read.py", "in.csv", "--detach", "--json")
    assert submitted.exit_code == 0, submitted.stderr
    execution_id = submitted.json()["id"]

    fresh = alice_cli("artifacts", execution_id)
    clock.advance(days=28)
    soon = alice_cli("artifacts", execution_id)
    clock.advance(days=3)
    gone = alice_cli("artifacts", execution_id)

    assert fresh.exit_code == soon.exit_code == gone.exit_code == 0
    assert "in.csv" in fresh.stdout and "expire" not in fresh.stderr
    assert "in.csv expires on" in soon.stderr and "download it before then" in soon.stderr
    assert "in.csv expired on" in gone.stderr and "expired" in gone.stdout


def test_a_file_over_the_maximum_is_refused_before_anything_is_submitted(alice_cli, tmp_path):
    write_script(tmp_path, "read.py", "print(1)\n")
    (tmp_path / "huge.bin").write_bytes(b"\0" * (MAX_FILE_BYTES + 1))

    result = alice_cli("run", "read.py", "huge.bin")

    assert result.exit_code == 2
    assert "exceeds the maximum" in result.stderr and "RGRID_MAX_FILE_BYTES" in result.stderr
    assert alice_cli("list", "--json").json() == []


def test_a_batch_of_more_files_than_one_upload_offer_holds_is_submitted_whole(
        alice_cli, alice, tmp_path):
    write_script(tmp_path, "each.py", "print(1)\n")
    (tmp_path / "in").mkdir()
    files = MAX_BLOBS_PER_OFFER + 1  # each distinct, so each is offered
    for n in range(files):
        (tmp_path / "in" / f"f{n:04d}.txt").write_text(f"{n}\n")

    result = alice_cli("run", "each.py", "--batch", "in/*.txt", "--detach")

    assert result.exit_code == 0, result.stderr
    assert f"Uploaded {files} inputs" in result.stderr
    batch_id = re.search(r"Starting batch (bat_\w+)", result.stderr)[1]
    assert alice.get(f"/api/v1/batches/{batch_id}").json()["total"] == files


def test_an_item_whose_finish_is_stamped_before_an_already_fetched_ones_still_comes_back(
        served_api, alice, worker_headers, clock, tmp_path):
    """A finish is stamped when its report arrives and committed after: one can become
    visible after a later-stamped one was read. The downloader still brings it back."""
    batch = alice.post("/api/v1/batches", {
        "script_name": "copy.py", "script_content": "print(1)\n", "parallel": 2,
        "items": [{"args": ["a.csv"]}, {"args": ["b.csv"]}]}).json()
    control_plane = ControlPlane(httpx.Client(base_url=served_api, headers=worker_headers))
    first, second = (control_plane.claim_next(batch["id"], flow_run_id=f"shard-{index}",
                                              worker=TEST_WORKER) for index in range(2))
    cli = ApiClient(CliSettings(api_url=served_api, api_key=alice.key))
    downloader = BatchDownloader(cli, batch["id"], ["a", "b"], tmp_path / "outputs",
                                 flat=False)

    _succeed_with_output(control_plane, second, tmp_path)
    downloader.collect()
    clock.advance(seconds=-1)  # stamped before the one fetched, visible only now
    _succeed_with_output(control_plane, first, tmp_path)
    downloader.collect()
    fetched_while_running = set(downloader._fetched)
    ended = cli.get(f"/api/v1/batches/{batch['id']}/executions")["executions"]

    assert downloader.finish(ended) == 2
    assert fetched_while_running == {first.execution_id, second.execution_id}
    assert (tmp_path / "outputs" / "a" / "out.txt").read_text() == first.execution_id
    assert (tmp_path / "outputs" / "b" / "out.txt").read_text() == second.execution_id


def test_a_batchs_outputs_are_listed_beside_its_live_stream_not_on_its_thread(
        served_api, alice, worker_headers, tmp_path):
    """The listing (an HTTP request, with retries) on the stream's thread stopped the
    stream's reading, so its keepalive went unanswered and it dropped (``OffTheStream``)."""
    batch = alice.post("/api/v1/batches", {
        "script_name": "copy.py", "script_content": "print(1)\n", "parallel": 2,
        "items": [{"args": ["a.csv"]}, {"args": ["b.csv"]}]}).json()
    control_plane = ControlPlane(httpx.Client(base_url=served_api, headers=worker_headers))
    jobs = [control_plane.claim_next(batch["id"], flow_run_id=f"shard-{index}",
                                     worker=TEST_WORKER) for index in range(2)]
    cli = ApiClient(CliSettings(api_url=served_api, api_key=alice.key))
    downloader = BatchDownloader(cli, batch["id"], ["a", "b"], tmp_path / "outputs",
                                 flat=False)
    listed_on: list[str] = []

    def collect() -> None:
        listed_on.append(threading.current_thread().name)
        downloader.collect()

    follower = threading.Thread(name="follower", daemon=True, target=lambda: follow_batch(
        cli, batch["id"], poll_seconds=0.5, on_change=collect))
    follower.start()
    wait_for(lambda: BUS.generation(batch_topic(batch["id"])) is not None, 30,
             "the batch's stream to open")
    for job in jobs:
        _succeed_with_output(control_plane, job, tmp_path)
    follower.join(timeout=60)

    assert not follower.is_alive(), "the batch ended; its follower should have"
    assert listed_on and "follower" not in listed_on, listed_on
    ended = cli.get(f"/api/v1/batches/{batch['id']}/executions")["executions"]
    assert downloader.finish(ended) == 2
    assert (tmp_path / "outputs" / "b" / "out.txt").read_text() == jobs[1].execution_id


def _succeed_with_output(control_plane: ControlPlane, job: JobSpec, tmp_path: Path) -> None:
    written = tmp_path / job.execution_id / "out.txt"
    written.parent.mkdir()
    written.write_text(job.execution_id)
    scratch = tmp_path / f"{job.execution_id}-scratch"
    scratch.mkdir()
    with httpx.Client() as storage:
        outputs = upload_outputs(control_plane, storage, job,
                                 [LocalOutput("out.txt", written, written.stat().st_size)],
                                 scratch)
    control_plane.finish(job.execution_id, FinishRequest(
        status=ExecutionStatus.SUCCEEDED, attempt=job.attempt, exit_code=0, outputs=outputs))
