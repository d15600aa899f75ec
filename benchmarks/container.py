"""An item's container as a worker runs it (`flows.container.run_container`: create,
attach, start, wait, inspect, remove) against a bare `docker run --rm` of the same script,
same image and sandbox, in the same run: wall time, the caller's CPU and the engine's
(dockerd and containerd) per container. Needs only the Docker engine and the runtime
image (`./scripts/dev up` makes both).

    python benchmarks/container.py [--runs 30]
    python benchmarks/container.py --code /tmp/before --code /tmp/after   # an A/B

Each `--code` is a checkout whose `flows.container` runs in a process of its own; the
sides alternate in rounds of 5 containers, so all see the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from batch import SANDBOX  # noqa: E402 - the batch's sandbox flags
from cpu import children_cpu, engine_cpu  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "container.json"
IMAGE = "rgrid/python:3.11"
SAID = "hello from a container\n"
SCRIPT = f"print({SAID.strip()!r})\n"
ROUND = 5
CHILD = """
import json, os, sys, time
from pathlib import Path
import flows.container
from flows.container import connect_docker, run_container
from rgrid_common.protocol import JobSpec
assert flows.container.__file__.startswith(os.getcwd()), flows.container.__file__
work, runs = Path(sys.argv[1]), int(sys.argv[2])
spec = JobSpec(execution_id="bench-container", image=%r, script_name="hello.py",
               script_content="", command=["python3", "/work/hello.py"], env={},
               memory_mb=512, cpus=1, pids_limit=256, timeout_seconds=60)
engine = connect_docker("bench-container")

def run():
    said = []
    run_container(engine, spec, work_dir=work, uid=1000, worker="bench-container",
                  on_output=lambda stream, text: said.append(text))
    assert "".join(said) == %r, said

run()  # warms the connection and the imports; not counted
print("warm", flush=True)
sys.stdin.readline()  # the engine's CPU is read now
for _ in range(runs):
    start, cpu = time.perf_counter(), time.process_time()
    run()
    print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]), flush=True)
""" % (IMAGE, SAID)


def _worker_round(code: Path, work: Path) -> tuple[list[list[float]], float]:
    """The round's samples and the engine's CPU during them (not the warm-up's)."""
    env = {**os.environ, "PYTHONPATH": str(code)}  # ``-c`` puts the cwd first: run in it
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(work), str(ROUND)], env=env,
                             cwd=code, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline() == "warm\n"
    before = engine_cpu()
    child.stdin.write("go\n")
    child.stdin.flush()
    samples = [json.loads(child.stdout.readline()) for _ in range(ROUND)]
    engine = engine_cpu() - before
    if child.wait() != 0:
        sys.exit(f"run_container from {code} failed")
    return samples, engine


def _docker_round(work: Path) -> tuple[list[list[float]], float]:
    argv = ["docker", "run", "--rm", *SANDBOX, "-v", f"{work}:/work", "-w", "/work", IMAGE,
            "python3", "/work/hello.py"]
    samples, before = [], engine_cpu()
    for _ in range(ROUND):
        start, cpu = time.perf_counter(), children_cpu()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert done.stdout == SAID, done.stdout
        samples.append([time.perf_counter() - start, children_cpu() - cpu])
    return samples, engine_cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--code", type=Path, action="append",
                        help="a checkout to run flows.container from (default: this one)")
    args = parser.parse_args()
    codes = args.code or [Path(__file__).resolve().parent.parent]
    sides = {"docker run": None, **{f"run_container ({code})": code for code in codes}}
    walls: dict[str, list[float]] = {side: [] for side in sides}
    own: dict[str, list[float]] = {side: [] for side in sides}
    engine: dict[str, float] = dict.fromkeys(sides, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o777)
        (work / "hello.py").write_text(SCRIPT)
        for _ in range(-(-args.runs // ROUND)):
            for side, code in sides.items():
                samples, engine_cpu = (_docker_round(work) if code is None
                                       else _worker_round(code, work))
                engine[side] += engine_cpu
                walls[side] += [wall for wall, _ in samples]
                own[side] += [cpu for _, cpu in samples]
    baseline = statistics.median(walls["docker run"])
    report = {side: {"wall_p50_s": statistics.median(walls[side]),
                     "ratio_to_docker_run": statistics.median(walls[side]) / baseline,
                     "caller_cpu_ms": 1000 * statistics.mean(own[side]),
                     "engine_cpu_ms": 1000 * engine[side] / len(walls[side]),
                     "runs": len(walls[side])} for side in sides}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    for side, figures in report.items():
        print(f"{side}: wall p50 {figures['wall_p50_s']:.3f} s "
              f"(x{figures['ratio_to_docker_run']:.2f} of docker run), CPU per container: "
              f"caller {figures['caller_cpu_ms']:.1f} ms, engine "
              f"{figures['engine_cpu_ms']:.1f} ms ({figures['runs']} runs)")


if __name__ == "__main__":
    main()
