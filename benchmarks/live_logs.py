"""Live logs on the single-machine default: how soon a printed line reaches the CLI, and
what 100 followers cost the API, on the WebSocket streams against polling (the CLI's
`RGRID_LIVE=poll`), measured in the same run. Start the stack first: `./scripts/dev up`.

    python benchmarks/live_logs.py [--rounds 3] [--followers 100] [--window 20]

1. Latency of a line: a script prints its clock every 0.2 s; the CLI (`rgrid run`, same
   machine, same clock) reads each line as it arrives. Rounds alternate the transports.
2. API CPU: executions print a line every 0.5 s; ``--followers`` followers (the CLI's own
   follow code, in threads of this process) follow them for ``--window`` seconds; the API
   process's CPU time over the window, per transport.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cli.client import ApiClient
from cli.config import CliSettings
from cli.follow import print_logs
from devstack.settings import DevSettings

LINES = 40
TICKER = (f"import time\nfor _ in range({LINES}):\n"
          "    print(f'{time.time():.6f}', flush=True)\n    time.sleep(0.2)\n")
CHATTER = "import time, sys\nfor i in range(int(sys.argv[1])):\n    print(i, flush=True)\n" \
          "    time.sleep(0.5)\n"
RUNNING_EXECUTIONS = 4
RESULTS = Path(__file__).parent / "results" / "live_logs.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line_latencies(work: Path, transport: str) -> list[float]:
    """One `rgrid run` of the ticker: each line's arrival minus its printed time."""
    env = {**os.environ, "RGRID_LIVE": transport}
    process = subprocess.Popen([sys.executable, "-P", "-m", "cli.main", "run", "ticker.py",
                                "--no-cache"], cwd=work, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    latencies = [time.time() - float(line) for line in process.stdout]
    if process.wait() != 0 or len(latencies) != LINES:
        sys.exit(f"the {transport} run failed:\n{process.stderr.read()}")
    return latencies


def api_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def followers_cpu(work: Path, transport: str, *, followers: int, window: float,
                  api_pid: int) -> float:
    """API CPU seconds while ``followers`` follow running executions for ``window`` s."""
    settings = CliSettings(live=transport).resolved()
    submitter = ApiClient(settings)
    lines = int((window + 30) / 0.5)
    ids = []
    for _ in range(RUNNING_EXECUTIONS):
        done = subprocess.run([sys.executable, "-P", "-m", "cli.main", "run", "chatter.py",
                               str(lines), "--no-cache", "--detach", "--json"], cwd=work,
                              capture_output=True, text=True, check=True)
        ids.append(json.loads(done.stdout)["id"])
    while any(submitter.get(f"/api/v1/executions/{i}")["status"] != "running" for i in ids):
        time.sleep(0.2)

    def follow(execution_id: str) -> None:
        client = ApiClient(settings)
        sink = io.StringIO()
        try:
            print_logs(client, execution_id, follow=True, poll_seconds=settings.poll_seconds,
                       stdout=sink, stderr=sink)
        except Exception:  # noqa: BLE001 - the execution is cancelled under it at the end
            pass

    threads = [threading.Thread(target=follow, args=(ids[n % len(ids)],), daemon=True)
               for n in range(followers)]
    for thread in threads:
        thread.start()
    time.sleep(3)  # every follower connected and caught up
    before = api_cpu_seconds(api_pid)
    time.sleep(window)
    used = api_cpu_seconds(api_pid) - before
    for execution_id in ids:
        submitter.post(f"/api/v1/executions/{execution_id}/cancel", {})
    for thread in threads:
        thread.join(timeout=30)
    return used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--window", type=float, default=20)
    options = parser.parse_args()
    api_pid = int((DevSettings().home / "run" / "api.pid").read_text())
    samples: dict[str, list[float]] = {"stream": [], "poll": []}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "ticker.py").write_text(TICKER)
        (work / "chatter.py").write_text(CHATTER)
        for _ in range(options.rounds):
            for transport in samples:
                samples[transport] += line_latencies(work, transport)
        for transport in ("stream", "poll"):
            cpu[transport] = followers_cpu(work, transport, followers=options.followers,
                                           window=options.window, api_pid=api_pid)
    report = {transport: {"p50": statistics.median(values), "p99": percentile(values, 0.99),
                          "lines": len(values)}
              for transport, values in samples.items()}
    report["api_cpu_seconds"] = cpu
    report["followers"], report["window_seconds"] = options.followers, options.window
    report["api_rss_mb"] = api_rss_mb(api_pid)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"line latency   stream p50 {report['stream']['p50']:.3f} s  p99 "
          f"{report['stream']['p99']:.3f} s   poll p50 {report['poll']['p50']:.3f} s  p99 "
          f"{report['poll']['p99']:.3f} s   p50 ratio stream/poll "
          f"{report['stream']['p50'] / report['poll']['p50']:.2f}")
    print(f"API CPU, {options.followers} followers for {options.window:g} s: stream "
          f"{cpu['stream']:.2f} s, poll {cpu['poll']:.2f} s, ratio stream/poll "
          f"{cpu['stream'] / cpu['poll']:.2f}")


if __name__ == "__main__":
    main()
