"""Latency of `rgrid run hello.py` on the warm single-machine default, against a bare
`docker run` of the same script in the same image with the same sandbox, measured in the
same run (alternating, so both see the same machine load), and where each RGrid run's
time went. Start the stack first: `./scripts/dev up`.

    python benchmarks/latency.py [--runs 20]

The breakdown reads each run's timestamps from the RGrid API (created, claimed,
finished) and from Prefect (the flow run made, Pending, Running), all on this machine's
clock, between the CLI's start and its exit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.config import CliSettings  # noqa: E402
from devstack.settings import DevSettings  # noqa: E402

SCRIPT = "print('hello')\n"
RESULTS = Path(__file__).parent / "results" / "latency.json"
PHASES = (  # (name, from mark, to mark), in order: together, the whole run
    ("CLI start, submit", "cli_start", "created"),
    ("API makes the flow run", "created", "flow_run_made"),
    ("worker picks it up", "flow_run_made", "pending"),
    ("Prefect: Pending to Running", "pending", "running"),
    ("flow start to claim", "running", "claimed"),
    ("container, output, finish", "claimed", "finished"),
    ("CLI notices, exits", "finished", "cli_exit"),
)


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall-clock start, seconds) of one successful command."""
    started, start = time.time(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or done.stdout.strip() != "hello":
        sys.exit(f"benchmark run failed: {argv}\n{done.stdout}\n{done.stderr}")
    return started, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Marks:
    """The timestamps of the latest execution, from the RGrid API and Prefect."""

    def __init__(self) -> None:
        settings = CliSettings().resolved()
        self.api = httpx.Client(base_url=settings.api_url, headers={
            "Authorization": f"Bearer {settings.api_key.get_secret_value()}"})
        self.prefect = httpx.Client(base_url=DevSettings().prefect_api_url)

    def of_latest(self, cli_start: float, seconds: float) -> dict[str, float]:
        latest = self.api.get("/api/v1/executions", params={"limit": 1}).json()["executions"][0]
        execution = self.api.get(f"/api/v1/executions/{latest['id']}").json()
        flow_run_id = execution["flow_run_id"]
        flow_run = self.prefect.get(f"/flow_runs/{flow_run_id}").json()
        states = self.prefect.get("/flow_run_states/",
                                  params={"flow_run_id": flow_run_id}).json()
        first = {}
        for state in sorted(states, key=lambda s: s["timestamp"]):
            first.setdefault(state["type"], _epoch(state["timestamp"]))
        return {"cli_start": cli_start, "created": _epoch(execution["created_at"]),
                "flow_run_made": _epoch(flow_run["created"]), "pending": first["PENDING"],
                "running": first["RUNNING"], "claimed": _epoch(execution["started_at"]),
                "finished": _epoch(execution["finished_at"]), "cli_exit": cli_start + seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    marks = Marks()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "hello.py").write_text(SCRIPT)
        work.chmod(0o777)
        rgrid = [sys.executable, "-P", "-m", "cli.main", "run", "hello.py", "--no-cache"]
        docker = ["docker", "run", "--rm", "--network", "none", "--read-only",
                  "--tmpfs", "/tmp", "--user", "1000:1000", "--cap-drop", "ALL",
                  "--security-opt", "no-new-privileges", "--pids-limit", "256",
                  "--memory", "512m", "--cpus", "1", "-v", f"{work}:/work", "-w", "/work",
                  "rgrid/python:3.11", "python3", "-u", "/work/hello.py"]
        timed(rgrid, work), timed(docker, work)  # warm both paths once
        samples: dict[str, list[float]] = {"rgrid": [], "docker": []}
        phases: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
        for _ in range(runs):  # interleaved, so both see the same machine load
            started, seconds = timed(rgrid, work)
            samples["rgrid"].append(seconds)
            at = marks.of_latest(started, seconds)
            for name, begin, end in PHASES:
                phases[name].append(at[end] - at[begin])
            samples["docker"].append(timed(docker, work)[1])
    report: dict = {
        name: {"p50": statistics.median(values), "p90": percentile(values, 0.9)}
        for name, values in samples.items()
    }
    report["runs"] = runs
    report["p50_ratio"] = report["rgrid"]["p50"] / report["docker"]["p50"]
    report["p50_overhead_s"] = report["rgrid"]["p50"] - report["docker"]["p50"]
    report["p90_overhead_s"] = report["rgrid"]["p90"] - report["docker"]["p90"]
    report["phases_p50_s"] = {name: statistics.median(values)
                              for name, values in phases.items()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"runs: {runs}")
    for name in ("rgrid", "docker"):
        print(f"{name:7} p50 {report[name]['p50']:.2f} s   p90 {report[name]['p90']:.2f} s")
    print(f"overhead over docker run: p50 {report['p50_overhead_s']:.2f} s, "
          f"p90 {report['p90_overhead_s']:.2f} s (target: p50 <= 0.8 s, p90 <= 1.2 s); "
          f"ratio {report['p50_ratio']:.1f}x")
    print("where an rgrid run's time goes (p50 of each phase):")
    for name, seconds in report["phases_p50_s"].items():
        print(f"  {name:30} {seconds:.3f} s")


if __name__ == "__main__":
    main()
