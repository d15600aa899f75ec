"""Latency of `rgrid run hello.py` on the warm single-machine default, against a bare
`docker run` of the same script in the same image with the same sandbox, measured in the
same run. Start the stack first: `./scripts/dev up`.

    python benchmarks/latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "print('hello')\n"
RESULTS = Path(__file__).parent / "results" / "latency.json"


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or done.stdout.strip() != "hello":
        sys.exit(f"benchmark run failed: {argv}\n{done.stdout}\n{done.stderr}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
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
        samples = {"rgrid": [], "docker": []}
        for _ in range(runs):  # interleaved, so both see the same machine load
            samples["rgrid"].append(timed(rgrid, work))
            samples["docker"].append(timed(docker, work))
    report = {
        name: {"p50": statistics.median(values), "p90": percentile(values, 0.9)}
        for name, values in samples.items()
    }
    report["runs"] = runs
    report["p50_ratio"] = report["rgrid"]["p50"] / report["docker"]["p50"]
    report["p50_overhead_s"] = report["rgrid"]["p50"] - report["docker"]["p50"]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"runs: {runs}")
    for name in ("rgrid", "docker"):
        print(f"{name:7} p50 {report[name]['p50']:.2f} s   p90 {report[name]['p90']:.2f} s")
    print(f"ratio rgrid/docker (p50): {report['p50_ratio']:.1f}x; "
          f"overhead {report['p50_overhead_s']:.2f} s (target: within 3 s, aim 1 s)")


if __name__ == "__main__":
    main()
