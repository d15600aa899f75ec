"""A large batch on one distributed control plane (issue 18): the Prefect server and the
RGrid API on PostgreSQL, files in S3 (moto's server), four workers of two slots, all on
this machine, on free ports, in databases of their own that are dropped afterwards.
Needs Docker and the machine's PostgreSQL (`./scripts/dev up` starts both) and the test
extra (moto).

    python benchmarks/scale.py --items 1000
    python benchmarks/scale.py --items 10000

While `rgrid run trivial.py --batch 'in/*.txt' --parallel 8` runs, it samples every few
seconds: the resident memory of the API, the Prefect server, the control worker and the
workers (each with its flow-run processes); how long `rgrid status bat_…` and
`rgrid list` take, and the API requests behind them; and it follows the batch's live
stream as the CLI does, timing the gaps between progress messages. Afterwards: every item
succeeded, on its first attempt; every output downloaded; no output stored twice (the
bucket keeps every version); the databases' sizes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import psutil
import psycopg
from moto.server import ThreadedMotoServer
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.api_process import free_port, percentile, save  # noqa: E402
from benchmarks.batch import prepared  # noqa: E402
from devstack.postgres import ensure_prefect_database  # noqa: E402
from devstack.processes import ManagedProcess  # noqa: E402
from devstack.settings import DevSettings  # noqa: E402
from devstack.stack import DevStack  # noqa: E402
from rgrid_common.stream import ProgressEvent  # noqa: E402

RESULTS = Path(__file__).parent / "results"
RGRID = [sys.executable, "-P", "-m", "cli.main"]
BUCKET = "rgrid-scale"
ROLE = "rgrid_scale"


class Databases:
    """Prefect's and the API's databases on the machine's cluster, dropped by ``drop``."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.names = {"prefect": f"rgrid_scale_prefect_{tag}", "api": f"rgrid_scale_api_{tag}"}
        password = secrets.token_urlsafe(18)
        self.urls = {part: ensure_prefect_database(password, lambda _line: None,
                                                   database=name, role=ROLE)
                     for part, name in self.names.items()}

    @property
    def prefect_url(self) -> str:
        return self.urls["prefect"]

    @property
    def api_url(self) -> str:
        return self.urls["api"].replace("+asyncpg", "+psycopg")

    def sizes_mb(self) -> dict[str, float]:
        with psycopg.connect(self.urls["api"].replace("+asyncpg", "")) as connection:
            return {part: connection.execute("SELECT pg_database_size(%s)", (name,))
                    .fetchone()[0] / 1e6 for part, name in self.names.items()}

    def drop(self) -> None:
        for name in self.names.values():
            subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-qc",
                            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                           capture_output=True, cwd="/")


class Sampler:
    """Calls ``sample()`` every ``seconds`` on a thread of its own until stopped."""

    def __init__(self, sample: Callable[[], None], seconds: float) -> None:
        self._sample, self._seconds = sample, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._sample()


def tree_rss_mb(pid: int | None) -> float:
    """A process and its descendants (a worker's flow-run processes)."""
    if pid is None:
        return 0.0
    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


class Probe:
    """What the control plane costs while the batch runs: peak memory per part, and how
    long the commands a user would type take."""

    def __init__(self, stack: DevStack, workers: dict[str, ManagedProcess], cwd: Path,
                 env: dict[str, str], api: httpx.Client) -> None:
        self.stack, self.workers, self.cwd, self.env, self.api = stack, workers, cwd, env, api
        self.batch_id: str | None = None
        self.peak_mb: dict[str, float] = {}
        self.timings: dict[str, list[float]] = {}

    def memory(self) -> None:
        parts = {"api": self.stack.processes["api"].pid,
                 "prefect_server": self.stack.processes["prefect-server"].pid,
                 "control_worker": self.stack.processes["control-worker"].pid}
        seen = {part: tree_rss_mb(pid) for part, pid in parts.items()}
        seen["worker_max"] = max(tree_rss_mb(w.pid) for w in self.workers.values())
        for part, megabytes in seen.items():
            self.peak_mb[part] = max(self.peak_mb.get(part, 0.0), megabytes)

    def commands(self) -> None:
        if self.batch_id is None:
            return
        self._time("cli: rgrid status bat_…", lambda: self._cli("status", self.batch_id))
        self._time("cli: rgrid list", lambda: self._cli("list"))
        self._time("api: GET /batches/{id}", lambda: self._get(f"/api/v1/batches/{self.batch_id}"))
        self._time("api: GET /executions?limit=50",
                   lambda: self._get("/api/v1/executions", limit=50))

    def _time(self, name: str, action: Callable[[], None]) -> None:
        started = time.perf_counter()
        action()
        self.timings.setdefault(name, []).append(time.perf_counter() - started)

    def _cli(self, *argv: str) -> None:
        done = subprocess.run([*RGRID, *argv], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"rgrid {' '.join(argv)} failed: {done.stderr[-1000:]}")

    def _get(self, path: str, **params) -> None:
        self.api.get(path, params=params).raise_for_status()

    def summary(self) -> dict:
        return {name: {"count": len(times), "p50_s": statistics.median(times),
                       "max_s": max(times)} for name, times in self.timings.items()}


class ProgressFollower:
    """The batch's live stream, as the CLI follows it: when each progress message came."""

    def __init__(self, api_url: str, key: str, batch_id: str) -> None:
        self.url = f"{api_url.replace('http', 'ws', 1)}/api/v1/batches/{batch_id}/stream"
        self.key = key
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, items done)
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        with connect(self.url, additional_headers={"Authorization": f"Bearer {self.key}"},
                     max_size=None) as stream:
            for raw in stream:
                message = json.loads(raw)
                if message["type"] == "progress":
                    counts = ProgressEvent.model_validate(message).counts
                    done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "timed_out",
                                                          "cancelled"))
                    self.arrivals.append((time.monotonic(), done))
                elif message["type"] in ("batch_end", "error"):
                    return

    def summary(self) -> dict:
        running = [t for t, done in self.arrivals if done > 0]  # from the first item's end
        gaps = [b - a for a, b in zip(running, running[1:])]
        return {"progress_messages": len(self.arrivals),
                "gap_p50_s": statistics.median(gaps) if gaps else None,
                "gap_p99_s": percentile(gaps, 0.99) if gaps else None,
                "gap_max_s": max(gaps) if gaps else None}


def s3_versions(client, bucket: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def start_stack(home: Path, databases: Databases, s3_url: str, *, workers: int,
                slots: int) -> tuple[DevStack, dict[str, ManagedProcess]]:
    settings = DevSettings(
        home=home, prefect_port=free_port(), api_port=free_port(),
        cli_config=home / "cli-config.json", start_worker=False,
        prefect_database_url=databases.prefect_url, api_database_url=databases.api_url,
        storage_backend="s3", s3_endpoint=s3_url, s3_access_key="scale",
        s3_secret_key="scale-secret", s3_bucket=BUCKET, worker_limit=slots,
        package_index_url="http://127.0.0.1:9/simple", package_index_cert=None)
    stack = DevStack(settings, say=lambda line: print(line, flush=True))
    stack.up()
    started = {}
    for number in range(1, workers + 1):
        name = f"scale-worker-{number}"
        started[name] = ManagedProcess(name, home)
        stack.start_worker(started[name], name)
    return stack, started


def batch_id_of(api: httpx.Client) -> str | None:
    listed = api.get("/api/v1/executions", params={"limit": 1}).json()["executions"]
    return listed[0]["batch_id"] if listed else None


def run_batch(stack: DevStack, workers: dict[str, ManagedProcess], items: int,
              parallel: int, work: Path, sample_seconds: float) -> dict:
    cli_env = {**os.environ, "RGRID_CONFIG": str(stack.settings.cli_config)}
    key = json.loads(stack.settings.cli_config.read_text())["api_key"]
    api = httpx.Client(base_url=stack.settings.api_url, timeout=60,
                       headers={"Authorization": f"Bearer {key}"})
    probe = Probe(stack, workers, work, cli_env, api)
    started = time.perf_counter()
    batch = subprocess.Popen([*RGRID, "run", "trivial.py", "--no-cache", "--batch", "in/*.txt",
                              "--parallel", str(parallel)], cwd=work, env=cli_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Sampler(probe.memory, 2), Sampler(probe.commands, sample_seconds):
        while (batch_id := batch_id_of(api)) is None:
            if batch.poll() is not None:
                raise SystemExit(f"the batch ended before it was made: {batch.stderr.read()}")
            time.sleep(0.5)
        submitted = time.perf_counter() - started
        follower = ProgressFollower(stack.settings.api_url, key, batch_id)
        probe.batch_id = batch_id
        _, stderr = batch.communicate()
        wall = time.perf_counter() - started
    follower.thread.join(timeout=60)
    executions = api.get(f"/api/v1/batches/{batch_id}/executions").json()["executions"]
    return {
        "batch_id": batch_id, "cli_exit_code": batch.returncode, "cli_stderr_tail": stderr[-600:],
        "cli_stream_drops": stream_drops(stderr),
        "wall_s": wall, "submitted_after_s": submitted,
        "items_per_s": items / (wall - submitted),
        "succeeded": sum(e["status"] == "succeeded" for e in executions),
        "not_first_attempt": sum(e["attempt"] != 1 for e in executions),
        "outputs_downloaded": len(list((work / "outputs").rglob("out.txt"))),
        "peak_rss_mb": probe.peak_mb, "while_running": probe.summary(),
        "progress": follower.summary(),
    }


def stream_drops(stderr: str) -> list[str]:
    """The CLI's retry lines' reasons (``Connection lost (<why>). Retrying...``), however
    its console wrapped them."""
    return re.findall(r"Connection lost(?: \((.*?)\))?\. Retrying", " ".join(stderr.split()))


def measured(folder: Path, databases: Databases, s3_url: str,
             options: argparse.Namespace) -> dict:
    """The stack up in ``folder``, the batch run, the stack down (its pid files are in
    ``folder``, so before it goes)."""
    home, work = folder / "home", folder / "work"
    work.mkdir()
    stack, workers = None, {}
    try:
        stack, workers = start_stack(home, databases, s3_url, workers=options.workers,
                                     slots=options.slots)
        prepared(work, options.items)
        return run_batch(stack, workers, options.items, options.workers * options.slots,
                         work, options.sample_seconds)
    finally:
        for process in workers.values():
            process.stop()
        if stack:
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--sample-seconds", type=float, default=10)
    options = parser.parse_args()
    databases = Databases()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's line per request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    s3_url = f"http://127.0.0.1:{moto._port}"
    s3 = boto3.client("s3", endpoint_url=s3_url, aws_access_key_id="scale",
                      aws_secret_access_key="scale-secret", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = measured(Path(tmp), databases, s3_url, options)
            versions = s3_versions(s3, BUCKET)
            report["outputs_stored"] = sum(1 for k in versions if k.endswith("/out.txt"))
            report["objects_stored_twice"] = sum(1 for count in versions.values() if count > 1)
            report["database_mb"] = databases.sizes_mb()
    finally:
        moto.stop()
        databases.drop()
    report.update(items=options.items, workers=options.workers, slots=options.slots)
    save(RESULTS / f"scale_{options.items}.json", report)


if __name__ == "__main__":
    main()
