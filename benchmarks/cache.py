"""What caching saves, end to end on the single-machine default (`./scripts/dev up` first;
the worker installs from its configured index, PyPI by default).

    python benchmarks/cache.py [--rounds 3]

cold  = `rgrid run --no-cache` of a script needing tabulate, its dependency layer removed
        first: pip install in a docker build, then the run.
warm  = the same with the layer on the worker ("✓ Using cached dependencies").
hit   = the same without --no-cache: served from the result cache, outputs downloaded.
cli   = `rgrid --help`: the Python start-up every rgrid command pays, for scale.
Each figure is the median of the rounds' wall times; the hit's ratio is against cold.
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

import docker
from docker.errors import ImageNotFound

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flows.dependencies import REPOSITORY, layer_key  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cache.json"
REQUIREMENTS = "tabulate==0.9.0\n"
RUNTIME_IMAGE = "rgrid/python:3.11"
SCRIPT = ("from tabulate import tabulate\n"
          "table = tabulate([['cold', 1], ['warm', 2], ['hit', 3]], headers=['run', 'n'])\n"
          "print(table)\nopen('table.txt', 'w').write(table)\n")
RGRID = [sys.executable, "-P", "-m", "cli.main"]


def timed(argv: list[str], cwd: Path, expect: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (expect and expect not in done.stderr):
        sys.exit(f"unexpected: {' '.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def remove_layer() -> None:
    engine = docker.from_env()
    key = layer_key(REQUIREMENTS, engine.images.get(RUNTIME_IMAGE).id)
    try:
        engine.images.remove(f"{REPOSITORY}:{key}", force=True)
    except ImageNotFound:
        pass


def one_round(work: Path, marker: str) -> dict[str, float]:
    (work / "bench.py").write_text(f"# round {marker}\n{SCRIPT}")
    remove_layer()
    cold = timed([*RGRID, "run", "bench.py", "--no-cache"], work, "Installing dependencies")
    warm = timed([*RGRID, "run", "bench.py", "--no-cache"], work, "Using cached dependencies")
    hit = timed([*RGRID, "run", "bench.py"], work, "Cached result from")
    cli = timed([*RGRID, "--help"], work)
    return {"cold": cold, "warm": warm, "hit": hit, "cli": cli}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "requirements.txt").write_text(REQUIREMENTS)
        for index in range(rounds):
            results.append(one_round(work, f"{time.time_ns()}-{index}"))
    medians = {name: round(statistics.median(r[name] for r in results), 3)
               for name in results[0]}
    report = {**medians, "hit_to_cold": round(medians["hit"] / medians["cold"], 3),
              "rounds": rounds, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"cold (layer built) {medians['cold']:.2f} s")
    print(f"warm (layer reused) {medians['warm']:.2f} s")
    print(f"hit  (result cache) {medians['hit']:.2f} s = {report['hit_to_cold']:.2f} of cold")
    print(f"cli  (rgrid --help) {medians['cli']:.2f} s, included in each of the above")


if __name__ == "__main__":
    main()
