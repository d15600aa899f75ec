"""How close a batch's estimate comes to what it cost, for batches of 20, 100 and 500
items on the single-machine default (`./scripts/dev up`). The script's history is made
first (5 single runs); each batch is then submitted with `rgrid run --batch`, its
estimate read from the line that starts it, and, once it has finished, its cost (the sum
of its items' estimates at their ends, the figure billing hours later split exactly).

    python benchmarks/cost_estimate.py [--sizes 20 100 500]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "cost_estimate.json"
SCRIPT = "import sys, time\ntime.sleep(0.5)\nprint(open(sys.argv[1]).read())\n"


def rgrid(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"rgrid {' '.join(args)} failed:\n{done.stderr}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "est.py").write_text(f"# {secrets.token_hex(4)}\n{SCRIPT}")
        (work / "one.txt").write_text("1")
        for _ in range(5):
            rgrid(work, "run", "est.py", "one.txt", "--no-cache")
        for size in options.sizes:
            folder = work / f"in{size}"
            folder.mkdir()
            for n in range(size):
                (folder / f"{n}.txt").write_text(str(n))
            done = rgrid(work, "run", "est.py", "--batch", f"in{size}/*.txt", "--parallel",
                         "4", "--remote-only", "--no-cache")
            batch_id = re.search(r"Starting batch (bat_\w+)", done.stderr)[1]
            batch = json.loads(rgrid(work, "status", batch_id, "--json").stdout)
            estimate, cost = batch["estimate_micros"], batch["cost_micros"]
            rows.append({"items": size, "estimate_micros": estimate, "cost_micros": cost,
                         "error_percent": round((estimate - cost) * 100 / cost, 1)})
            print(f"{size:4d} items: estimated {estimate} µ€, cost {cost} µ€ "
                  f"({rows[-1]['error_percent']:+.1f} %)", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
