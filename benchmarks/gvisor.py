"""What gVisor costs: the same script in the same sandbox (flows.sandbox's options,
through flows.container.run_container, as a worker runs it) under runc and under runsc,
interleaved, in the same run. Needs an engine with runsc registered (`./scripts/test`
starts one so; see hetzner_autoscaler/node/docker-daemon.json).

    python benchmarks/gvisor.py [--rounds 10]

hello  = `print('hi')`: container start to exit, what a short execution pays.
files  = 2,000 files written, read back and removed in /work: system calls, where
         gVisor's user-space kernel costs most.
python = a pure-Python loop, ~2 s under runc: little system-call traffic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from flows.container import connect_docker, run_container
from rgrid_common.protocol import JobSpec

RESULTS = Path(__file__).parent / "results" / "gvisor.json"
WORKLOADS = {
    "hello": "print('hi')\n",
    "files": ("import os\n"
              "for i in range(2000):\n"
              "    open(f'f{i}', 'w').write('x' * 100)\n"
              "for i in range(2000):\n"
              "    open(f'f{i}').read(); os.remove(f'f{i}')\n"),
    "python": "total = 0\nfor i in range(6_000_000):\n    total += i % 7\nprint(total)\n",
}


def job(name: str, source: str) -> JobSpec:
    return JobSpec(execution_id=f"bench-{name}", image="rgrid/python:3.11",
                   script_name="bench.py", script_content=source,
                   command=["python3", "/work/bench.py"], env={}, memory_mb=512, cpus=1,
                   pids_limit=256, timeout_seconds=300)


def timed_run(engine, spec: JobSpec, runtime: str) -> float:
    with tempfile.TemporaryDirectory() as work:
        Path(work).chmod(0o777)
        (Path(work) / spec.script_name).write_text(spec.script_content)
        start = time.perf_counter()
        outcome = run_container(engine, spec, work_dir=Path(work), uid=1000,
                                worker="benchmark", on_output=lambda stream, text: None,
                                runtime=runtime)
        elapsed = time.perf_counter() - start
    if outcome.exit_code != 0:
        raise SystemExit(f"{spec.execution_id} under {runtime} exited {outcome.exit_code}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    engine = connect_docker("benchmark", runtime="runsc")
    figures = {}
    for name, source in WORKLOADS.items():
        spec = job(name, source)
        timed_run(engine, spec, "runc"), timed_run(engine, spec, "runsc")  # warm both
        times: dict[str, list[float]] = {"runc": [], "runsc": []}
        for _ in range(rounds):  # interleaved, so drift in the machine hits both alike
            for runtime in times:
                times[runtime].append(timed_run(engine, spec, runtime))
        runc, runsc = (statistics.median(times[r]) for r in ("runc", "runsc"))
        figures[name] = {"runc_p50_s": round(runc, 3), "runsc_p50_s": round(runsc, 3),
                         "ratio": round(runsc / runc, 2), "rounds": rounds}
        print(f"{name:7} runc p50 {runc:6.3f} s   runsc p50 {runsc:6.3f} s   "
              f"runsc/runc {runsc / runc:5.2f}x   (+{runsc - runc:.3f} s)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
