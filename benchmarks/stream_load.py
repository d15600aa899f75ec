"""One API process under load: 100 live streams and 50 submissions a second for 60 s;
then `list --metadata` over 10,000 executions. Needs the stack's Prefect server (`./scripts/dev
up`); the API is a fresh process on a fresh SQLite database (the single-machine default),
its flow runs go to a pool no worker serves, and both are removed afterwards.

    python benchmarks/stream_load.py [--seconds 60] [--streams 100] [--rate 50]

Streams: 10 executions, claimed by this script acting as their worker, each followed by
``streams / 10`` streams; it posts a line to each every 0.5 s with the time in it, and the
streams measure when it arrives. Submissions: one every 1/rate s, each a new execution
(its Prefect flow run made by the API's starter, after the answer). Reported: errors,
stream latency (p50/p99), submissions made and their latency, the API's peak memory, the CPU
seconds the API, Prefect's server and this script used during the load (the machine's cores
are shared by all three), and how long after the first submission the last flow run was
made (Prefect's pace, not the API's). Then
10,000 tagged executions are written to the database and
`GET /api/v1/executions?metadata=k=v` (what `rgrid list --metadata k=v` sends) is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from sqlalchemy import func, insert, select
from websockets.asyncio.client import connect

from api_process import ApiProcess, percentile  # beside this script
from devstack.processes import ManagedProcess
from devstack.settings import DevSettings
from rgrid_api.core.db import get_engine
from rgrid_api.models import Execution, new_id

RESULTS = Path(__file__).parent / "results" / "stream_load.json"
POOL = "rgrid-bench-idle"
FOLLOWED = 10
SCRIPT = {"script_name": "load.py", "script_content": "print('load')\n", "use_cache": False}


class RawHttp:
    """POSTs of JSON over kept-alive connections, written and read by hand: the load must
    cost this script little, since it shares the machine's cores with the API and Prefect
    (httpx's async client took about 9 ms of CPU a request here, and could not offer 50
    submissions a second next to 100 streams)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                   f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                   ).encode() + data
        reader, writer = (self._idle.pop() if self._idle
                          else await asyncio.open_connection(self.host, self.port))
        try:
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self._idle.append((reader, writer))
        return int(status_line.split()[1]), answer

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


def idle_deployment(prefect_url: str) -> tuple[str, str]:
    """A deployment of the execute flow on a pool no worker serves: (name, id)."""
    with SyncPrefectClient(api=prefect_url) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        except Exception:  # noqa: BLE001 - it exists from an earlier run
            pass
        deployment_id = client.create_deployment(
            flow_id=client.create_flow_from_name("rgrid-execute"), name="bench",
            entrypoint="flows.execute:execute", work_pool_name=POOL)
    return "rgrid-execute/bench", str(deployment_id)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 when there is none)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def remove_flow_runs(prefect_url: str, deployment_id: str) -> int:
    removed = 0
    with SyncPrefectClient(api=prefect_url) as client:
        while runs := client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment_id])), limit=200):
            for run in runs:
                client.delete_flow_run(run.id)
                removed += 1
        client.delete_deployment(deployment_id)
    return removed


async def load(api: ApiProcess, *, seconds: float, streams: int, rate: float) -> dict:
    admin, control = api.admin_headers, api.control_headers
    async with httpx.AsyncClient(base_url=api.url, timeout=30,
                                 limits=httpx.Limits(max_connections=200)) as http:
        account = (await http.post("/api/v1/accounts", json={"name": "load"},
                                   headers=admin)).json()
        user = {"Authorization": f"Bearer {account['api_key']}"}
        token = (await http.post("/api/v1/control/worker-tokens", json={"worker": "bench"},
                                 headers=control)).json()["token"]
        worker = {"Authorization": f"Bearer {token}"}
        followed = []
        for _ in range(FOLLOWED):
            execution = (await http.post("/api/v1/executions", json=SCRIPT,
                                         headers=user)).json()
            await http.post(f"/api/v1/worker/executions/{execution['id']}/claim",
                            json={"flow_run_id": "bench", "worker": "bench"}, headers=worker)
            followed.append(execution["id"])
        errors: list[str] = []
        latencies: list[float] = []
        submit_times: list[float] = []
        stop = asyncio.Event()
        ws_url = api.url.replace("http", "ws")
        raw = RawHttp(api.url)

        async def stream(execution_id: str) -> None:
            try:
                async with connect(f"{ws_url}/api/v1/executions/{execution_id}/stream",
                                   additional_headers=user, max_queue=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "log":
                            latencies.append(time.time() - float(message["data"]))
                        elif message["type"] in ("error", "end"):
                            return
            except Exception as exc:  # noqa: BLE001 - counted
                if not stop.is_set():
                    errors.append(f"stream: {exc!r}")

        async def post_lines() -> None:
            seq = 0
            while not stop.is_set():
                for execution_id in followed:
                    status, _ = await raw.post(
                        f"/api/v1/worker/executions/{execution_id}/logs", headers=worker,
                        body={"chunks": [{"seq": seq, "stream": "stdout",
                                          "data": f"{time.time():.6f}"}]})
                    if status != 204:
                        errors.append(f"logs: {status}")
                seq += 1
                await asyncio.sleep(0.5)

        async def submit() -> None:
            started = time.perf_counter()
            try:
                status, answer = await raw.post("/api/v1/executions", SCRIPT, user)
                if status != 201:
                    errors.append(f"submit: {status} {answer[:200]!r}")
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                errors.append(f"submit: {exc!r}")
            submit_times.append(time.perf_counter() - started)

        followers = [asyncio.create_task(stream(followed[n % FOLLOWED]))
                     for n in range(streams)]
        await asyncio.sleep(2)
        poster = asyncio.create_task(post_lines())
        peak_rss, submissions = 0.0, []
        prefect_pid = ManagedProcess("prefect-server", DevSettings().home).pid
        cpu_before = (cpu_seconds(api.process.pid), cpu_seconds(prefect_pid),
                      time.process_time())
        begin = time.monotonic()
        load_started = begin
        tick = 0
        while time.monotonic() - begin < seconds:
            submissions.append(asyncio.create_task(submit()))
            tick += 1
            if tick % int(rate) == 0:
                peak_rss = max(peak_rss, api.rss_mb())
            await asyncio.sleep(max(0.0, begin + tick / rate - time.monotonic()))
        await asyncio.gather(*submissions)
        load_seconds = time.monotonic() - begin
        cpu_after = (cpu_seconds(api.process.pid), cpu_seconds(prefect_pid),
                     time.process_time())
        cpu = [round(after - before, 1) for before, after in zip(cpu_before, cpu_after)]
        stop.set()
        poster.cancel()
        for execution_id in followed:
            await http.post(f"/api/v1/worker/executions/{execution_id}/finish",
                            json={"status": "succeeded", "exit_code": 0}, headers=worker)
        await asyncio.wait(followers, timeout=30)
        raw.close()
        return {"account_id": account["id"], "api_key": account["api_key"],
                "errors": len(errors), "first_errors": errors[:5],
                "submissions": len(submit_times),
                "submissions_per_s": len(submit_times) / load_seconds,
                "load_seconds": load_seconds, "cpu_s_api": cpu[0], "cpu_s_prefect": cpu[1],
                "cpu_s_load_script": cpu[2],
                "submission_p50": statistics.median(submit_times),
                "submission_p99": percentile(submit_times, 0.99),
                "stream_lines": len(latencies), "stream_p50": statistics.median(latencies),
                "stream_p99": percentile(latencies, 0.99), "api_peak_rss_mb": peak_rss,
                "last_flow_run_after_s": await asyncio.to_thread(
                    every_flow_run_made, api, load_started)}


def every_flow_run_made(api: ApiProcess, since: float, *, timeout: float = 900) -> float:
    """Seconds from ``since`` until no queued execution waits for its flow run."""
    waiting = (select(func.count()).select_from(Execution)
               .where(Execution.status == "queued", Execution.flow_run_id.is_(None)))
    engine = get_engine(api.settings.database_url)
    while time.monotonic() - since < timeout:
        with engine.connect() as connection:
            if connection.scalar(waiting) == 0:
                return time.monotonic() - since
        time.sleep(0.5)
    return float("nan")


def tag_listing(api: ApiProcess, account_id: str, api_key: str, *, rows: int = 10_000,
                requests: int = 50) -> dict:
    """``rows`` executions with tags written straight to the database, then the listing
    of one tag (1 % of them) timed through the API."""
    now = datetime.now(timezone.utc)
    engine = get_engine(api.settings.database_url)
    with engine.begin() as connection:
        connection.execute(insert(Execution), [{
            "id": new_id("ex"), "account_id": account_id, "status": "succeeded",
            "script_name": "tagged.py", "script_content": "print(1)\n", "runtime": "python3.11",
            "image": "rgrid/python:3.11", "args": [], "env": {}, "memory_mb": 512,
            "disk_mb": 1024, "cpus": 1.0, "timeout_seconds": 300,
            "created_at": now - timedelta(seconds=n), "tags": {"exp": f"e{n % 100}",
                                                               "team": "bench"}}
            for n in range(rows)])
    headers = {"Authorization": f"Bearer {api_key}"}
    times = []
    with httpx.Client(base_url=api.url, headers=headers) as http:
        for n in range(requests + 1):
            started = time.perf_counter()
            page = http.get("/api/v1/executions", params={"metadata": f"exp=e{n % 100}",
                                                          "limit": 50})
            elapsed = time.perf_counter() - started
            assert page.status_code == 200 and len(page.json()["executions"]) == 50, page.text
            if n:  # the first warms the connection
                times.append(elapsed)
    return {"rows": rows, "list_p50": statistics.median(times),
            "list_p99": percentile(times, 0.99)}


def load_options() -> argparse.Namespace:
    """The issue's load unless told: 50 submissions a second for 60 s over 100 streams."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rate", type=int, default=50, help="submissions per second")
    return parser.parse_args()


def main() -> None:
    options = load_options()
    prefect_url = DevSettings().prefect_api_url
    deployment, deployment_id = idle_deployment(prefect_url)
    with tempfile.TemporaryDirectory() as tmp:
        api = ApiProcess(Path(tmp), prefect_url, deployment)
        try:
            report = asyncio.run(load(api, seconds=options.seconds, streams=options.streams,
                                      rate=options.rate))
            report.update(tag_listing(api, report.pop("account_id"), report.pop("api_key")))
        finally:
            api.stop()
            removed = remove_flow_runs(prefect_url, deployment_id)
    report.update(seconds=options.seconds, streams=options.streams, rate=options.rate,
                  flow_runs_removed=removed)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
