"""One API process under load from locust (headless): 50 submissions a second for 60 s on
top of 100 open live streams. Needs the stack's Prefect server (`./scripts/dev up`) and
locust (`pip install -c constraints.txt -e ".[bench]"`). As in `stream_load.py`, the API
is a fresh process on a fresh SQLite database (the single-machine default), its flow runs
go to a pool no worker serves, and both are removed afterwards.

    python benchmarks/locust_load.py [--seconds 60] [--streams 100] [--rate 50]

The users are in `benchmarks/locustfile.py`. Reported, from locust's own statistics:
requests and failures of each kind; p50/p99 of a submission (answered once recorded:
its flow run is made after) and of a line, from the moment its worker posts it to the
moment a stream has it ("first line": what a follower waits for once the script prints).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from api_process import ApiProcess, save  # beside this script
from devstack.settings import DevSettings
from stream_load import FOLLOWED, SCRIPT, idle_deployment, load_options, remove_flow_runs

RESULTS = Path(__file__).parent / "results" / "locust_load.json"
LOCUSTFILE = Path(__file__).parent / "locustfile.py"


def prepared(api: ApiProcess, *, submitters: int, streams: int) -> dict:
    """An account, a worker token, and the executions the streams follow, claimed by
    that worker."""
    with httpx.Client(base_url=api.url, timeout=30) as http:
        account = http.post("/api/v1/accounts", json={"name": "load"},
                            headers=api.admin_headers).json()
        user = {"Authorization": f"Bearer {account['api_key']}"}
        token = http.post("/api/v1/control/worker-tokens", json={"worker": "bench"},
                          headers=api.control_headers).json()["token"]
        followed = []
        for _ in range(FOLLOWED):
            execution = http.post("/api/v1/executions", json=SCRIPT, headers=user).json()
            http.post(f"/api/v1/worker/executions/{execution['id']}/claim",
                      json={"flow_run_id": "bench", "worker": "bench"},
                      headers={"Authorization": f"Bearer {token}"}).raise_for_status()
            followed.append(execution["id"])
    return {"user_key": account["api_key"], "worker_token": token, "followed": followed,
            "submitters": submitters, "streams": streams}


def run_locust(api: ApiProcess, setup: dict, seconds: float, folder: Path) -> Path:
    users = setup["submitters"] + setup["streams"] + 1
    prefix = folder / "locust"
    subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                    "--host", api.url, "-u", str(users), "-r", str(users),
                    "-t", f"{seconds:g}s", "--stop-timeout", "5", "--csv", str(prefix),
                    "--json-file", f"{prefix}_final",
                    "--only-summary", "--loglevel", "WARNING"],
                   env={**os.environ, "RGRID_LOAD_SETUP": json.dumps(setup)}, check=False)
    return prefix


def figures(prefix: Path, seconds: float) -> dict:
    """Per kind of request, from locust's final statistics: count, failures, p50/p99 in
    seconds; the first failures' messages from its CSV (written each second, so the last
    second's may be missing there, never from the counts)."""
    report = {}
    for entry in json.loads(Path(f"{prefix}_final.json").read_text()):
        times = {int(ms): count for ms, count in entry["response_times"].items()}
        report[entry["name"]] = {
            "requests": entry["num_requests"], "failures": entry["num_failures"],
            "per_second": entry["num_requests"] / seconds,
            "p50_s": percentile(times, 0.50) / 1000, "p99_s": percentile(times, 0.99) / 1000}
    with open(f"{prefix}_failures.csv", newline="") as failures:
        report["first_failures"] = [f"{row['Name']}: {row['Error']} ({row['Occurrences']})"
                                    for row in csv.DictReader(failures)][:5]
    return report


def percentile(counts: dict[int, int], fraction: float) -> int:
    """Of locust's histogram (response time in ms, rounded as locust does -> how many)."""
    wanted, seen = fraction * sum(counts.values()), 0
    for milliseconds in sorted(counts):
        seen += counts[milliseconds]
        if seen >= wanted:
            return milliseconds
    return 0


def main() -> None:
    options = load_options()
    prefect_url = DevSettings().prefect_api_url
    deployment, deployment_id = idle_deployment(prefect_url)
    with tempfile.TemporaryDirectory() as tmp:
        api = ApiProcess(Path(tmp), prefect_url, deployment)
        try:
            setup = prepared(api, submitters=options.rate, streams=options.streams)
            report = figures(run_locust(api, setup, options.seconds, Path(tmp)),
                             options.seconds)
            report["api_rss_mb_after"] = api.rss_mb()
            report["lines_expected"] = (report["worker posts a line"]["requests"]
                                        * options.streams // len(setup["followed"]))
        finally:
            api.stop()
            removed = remove_flow_runs(prefect_url, deployment_id)
    report.update(seconds=options.seconds, streams=options.streams, rate=options.rate,
                  flow_runs_removed=removed)
    save(RESULTS, report)


if __name__ == "__main__":
    main()
