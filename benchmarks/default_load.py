"""The single-machine default under load: `rgrid run`s submitted all at once while a large
batch runs. Start the stack first: `./scripts/dev up`.

    python benchmarks/default_load.py [--items 1000] [--runs 20]

Reports every command that failed, every "database is locked" (or other lock error) in
the logs of the API, Prefect's server and the workers while it ran, each single run's
pickup (submitted to claimed by a worker: its flow run made, taken from Prefect and
started) and the batch's wall time with all its outputs downloaded.
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

from benchmarks.batch import prepared  # noqa: E402
from cli.config import CliSettings  # noqa: E402
from devstack.settings import DevSettings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "default_load.json"
RGRID = [sys.executable, "-P", "-m", "cli.main"]
LOCK_ERRORS = ("database is locked", "deadlock detected", "could not obtain lock")
PICKUP_TARGET_SECONDS = 5


class Logs:
    """What the stack's processes log from now on."""

    def __init__(self, folder: Path) -> None:
        self.sizes = {path: path.stat().st_size for path in folder.glob("*.log")}

    def lock_errors(self) -> list[str]:
        found = []
        for path, size in self.sizes.items():
            with path.open(errors="replace") as log:
                log.seek(size)
                found += [f"{path.name}: {line.strip()}" for line in log
                          if any(error in line.lower() for error in LOCK_ERRORS)]
        return found


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _batch_running(api: httpx.Client) -> bool:
    listed = api.get("/api/v1/executions", params={"limit": 20}).json()["executions"]
    return any(e["batch_id"] and e["status"] == "succeeded" for e in listed)


def single_runs(work: Path, count: int) -> list[dict]:
    """``count`` `rgrid run`s started at once; each one's result."""
    (work / "hello.py").write_text("print('hello')\n")
    started = [subprocess.Popen([*RGRID, "run", "hello.py", "--no-cache", "--json"], cwd=work,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(count)]
    results = []
    for process in started:
        out, err = process.communicate()
        results.append({"exit_code": process.returncode, "stdout": out, "stderr": err})
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    settings = CliSettings().resolved()
    api = httpx.Client(base_url=settings.api_url, headers={
        "Authorization": f"Bearer {settings.api_key.get_secret_value()}"})
    logs = Logs(DevSettings().home / "logs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepared(work, args.items)
        start = time.perf_counter()
        batch = subprocess.Popen([*RGRID, "run", "trivial.py", "--no-cache", "--batch",
                                  "in/*.txt", "--parallel", "2"], cwd=work,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not _batch_running(api):
            if batch.poll() is not None:
                sys.exit(f"the batch ended before it ran: {batch.stderr.read()[-2000:]}")
            time.sleep(0.5)
        runs = single_runs(work, args.runs)
        _, batch_err = batch.communicate()
        batch_seconds = time.perf_counter() - start
        outputs = len(list((work / "outputs").rglob("out.txt")))
    failed = [r["stderr"][-500:] for r in runs if r["exit_code"] != 0]
    pickups = []
    for run in runs:
        if run["exit_code"] == 0:
            execution = json.loads(run["stdout"])
            pickups.append(_epoch(execution["started_at"]) - _epoch(execution["created_at"]))
    report = {
        "items": args.items, "runs": args.runs,
        "batch_exit_code": batch.returncode, "batch_outputs": outputs,
        "batch_seconds": batch_seconds, "runs_failed": failed,
        "pickup_p50_s": statistics.median(pickups) if pickups else None,
        "pickup_max_s": max(pickups) if pickups else None,
        "lock_errors": logs.lock_errors(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"batch of {args.items}: exit {batch.returncode}, {outputs} outputs downloaded, "
          f"{batch_seconds:.1f} s")
    if batch.returncode != 0:
        print(batch_err[-2000:])
    print(f"{args.runs} runs at once during it: {args.runs - len(failed)} succeeded; pickup "
          f"(submitted to claimed) p50 {report['pickup_p50_s']:.2f} s, max "
          f"{report['pickup_max_s']:.2f} s (target: none above {PICKUP_TARGET_SECONDS} s)")
    for error in failed:
        print(f"  failed: {error}")
    print(f"lock errors in the stack's logs: {len(report['lock_errors'])}")
    for line in report["lock_errors"][:20]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
