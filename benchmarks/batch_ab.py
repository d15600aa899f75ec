"""An A/B of one setting of the single-machine default on `benchmarks/batch.py`'s batch:
the batch and its `xargs -P2 docker run` baseline, with an environment variable at each
of its values, nothing else changed. Each side restarts the stack (`python -m devstack
down`, then `up` with the variable set, which its processes and the side's CLI inherit),
and the sides alternate, each round in the other order (A B, B A, ...), so all see the
same machine and neither always runs second; use an even number of rounds. The stack is
left up as the first value has it.

    python benchmarks/batch_ab.py RGRID_ITEMS_AS_TASKS false true [--files 200] [--rounds 4]
    python benchmarks/batch_ab.py RGRID_DEV_WORKER_QUERY_SECONDS 0.5 5

Results: `benchmarks/results/batch_ab_<variable>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import batch  # noqa: E402 - the same batch, baseline and CPU count

RESULTS = Path(__file__).parent / "results"


def _restart_stack(variable: str, value: str) -> None:
    """The variable stays set for the side's CLI too: with ``PYTHONPATH`` at a worktree,
    the CLI is that code's, as the stack is."""
    os.environ[variable] = value
    for command in ("down", "up"):
        done = subprocess.run([sys.executable, "-m", "devstack", command],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"devstack {command} failed:\n{done.stdout}\n{done.stderr}")


def _one_side(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        batch.prepared(work, count)
        baseline = batch.run_xargs(work)
        rgrid = batch.run_rgrid(work, count)
    return {"rgrid_s": rgrid, "xargs_docker_s": baseline, "ratio": baseline / rgrid,
            "cpu_seconds": {"rgrid": batch.CPU_SEEN[sys.executable],
                            "xargs": batch.CPU_SEEN["xargs"]}}


def _in_turn(values: list[str], round_: int) -> list[str]:
    """The sides in this round's order: A then B, then B then A. On 2026-12-07 the side that
    ran second in a round was slower whichever code it ran (one code: 82.1 s first, 85.6
    and 86.4 s second; the other: 80.4 and 80.5 s first, 84.6 s second), so a fixed order
    measured the order as much as the change."""
    return list(values) if round_ % 2 == 0 else list(reversed(values))


def _median(runs: list[dict], pick) -> float:
    return round(statistics.median(pick(run) for run in runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variable")
    parser.add_argument("values", nargs=2)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args()
    runs: dict[str, list[dict]] = {value: [] for value in options.values}
    try:
        for round_ in range(options.rounds):
            for value in _in_turn(options.values, round_):
                _restart_stack(options.variable, value)
                runs[value].append(_one_side(options.files))
                print(f"round {round_ + 1}, {options.variable}={value}: "
                      f"ratio {runs[value][-1]['ratio']:.2f}", flush=True)
    finally:
        _restart_stack(options.variable, options.values[0])
    median = {value: {
        "ratio": _median(side, lambda run: run["ratio"]),
        "rgrid_s": _median(side, lambda run: run["rgrid_s"]),
        "xargs_docker_s": _median(side, lambda run: run["xargs_docker_s"]),
        "cpu_seconds_rgrid": {kind: _median(side, lambda run, kind=kind:
                                            run["cpu_seconds"]["rgrid"][kind])
                              for kind in side[0]["cpu_seconds"]["rgrid"]}}
        for value, side in runs.items()}
    report = {"variable": options.variable, "files": options.files, "rounds": options.rounds,
              "median": median, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"batch_ab_{options.variable.lower()}.json").write_text(
        json.dumps(report, indent=2))
    print(f"{options.files} files, 2 slots, {options.rounds} rounds, medians:")
    for value, figures in median.items():
        cpu = figures["cpu_seconds_rgrid"]
        print(f"{options.variable}={value}: ratio {figures['ratio']:.2f}, rgrid "
              f"{figures['rgrid_s']:.1f} s, xargs {figures['xargs_docker_s']:.1f} s; CPU s "
              "during rgrid: " + ", ".join(f"{kind} {seconds:g}" for kind, seconds in cpu.items()))


if __name__ == "__main__":
    main()
