"""What the running stack costs with nothing to do: CPU seconds by part (the API, the
workers, PostgreSQL, the Prefect server, dockerd, containerd) over a quiet minute, after
`./scripts/dev up`. The workers' poll of Prefect is most of it; compare settings by
starting the stack with each (one change at a time):

    ./scripts/dev up && python benchmarks/idle.py --seconds 60
    ./scripts/dev down && RGRID_DEV_WORKER_QUERY_SECONDS=5 ./scripts/dev up && \\
        RGRID_DEV_WORKER_QUERY_SECONDS=5 python benchmarks/idle.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cpu import cpu_by_kind  # beside this script
from devstack.settings import DevSettings

RESULTS = Path(__file__).parent / "results" / "idle.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--label", default=f"poll {DevSettings().worker_query_seconds} s")
    options = parser.parse_args()
    time.sleep(5)  # the stack settles after its start
    before = cpu_by_kind()
    started = time.monotonic()
    time.sleep(options.seconds)  # the measurement is of an idle interval: nothing to wait on
    after = cpu_by_kind()
    elapsed = time.monotonic() - started
    share = {kind: round((after[kind] - before[kind]) / elapsed, 3) for kind in after}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[options.label] = {"seconds": round(elapsed, 1), "cores busy": share}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{options.label}: cores busy over {elapsed:.0f} s idle: " + ", ".join(
        f"{kind} {value:.3f}" for kind, value in share.items()))


if __name__ == "__main__":
    main()
