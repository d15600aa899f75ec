"""Throughput of a batch on the single-machine default with 2 slots, against
`xargs -P2 docker run` of the same script over the same files, same image and sandbox,
in the same run. Start the stack first: `./scripts/dev up`.

    python benchmarks/batch.py [--files 200]
    python benchmarks/batch.py --wall 1000     # RGrid alone: a large batch's wall time

rgrid   = `rgrid run trivial.py --batch 'in/*.txt' --parallel 2`, end to end: uploads,
          every item's flow run and container, progress, outputs downloaded.
baseline = `xargs -P2` running one sandboxed `docker run --rm` per file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu import children_cpu, cpu_by_kind, wait_until_idle  # beside this script

RESULTS = Path(__file__).parent / "results" / "batch.json"
SCRIPT = "import sys\nopen('out.txt', 'w').write(open(sys.argv[1]).read().upper())\n"
SANDBOX = ["--network", "none", "--read-only", "--tmpfs", "/tmp", "--user", "1000:1000",
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pids-limit", "256",
           "--memory", "512m", "--cpus", "1"]


CPU_SEEN: dict[str, dict[str, float]] = {}  # per timed command: kind -> CPU seconds
# The timed command and what it started itself: the CLI, or xargs and its docker CLIs
# (a container's processes are containerd's children, not the command's).
COMMAND_KIND = "the command (rgrid CLI; xargs and docker CLIs)"


def timed(argv: list[str], cwd: Path, **kwargs) -> float:
    """The wall time of ``argv``, started once the stack is idle; the CPU seconds it cost
    by kind go to ``CPU_SEEN``."""
    wait_until_idle()
    cpu_before, own_before = cpu_by_kind(), children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, **kwargs)
    elapsed = time.perf_counter() - start
    cpu_after = cpu_by_kind()
    CPU_SEEN[argv[0]] = {kind: round(cpu_after[kind] - cpu_before[kind], 1)
                         for kind in cpu_after}
    CPU_SEEN[argv[0]][COMMAND_KIND] = round(children_cpu() - own_before, 1)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def prepared(work: Path, count: int) -> None:
    work.chmod(0o777)
    (work / "trivial.py").write_text(SCRIPT)
    (work / "in").mkdir()
    for index in range(count):
        (work / "in" / f"f{index:04d}.txt").write_text(f"line {index}\n")


def run_rgrid(work: Path, count: int) -> float:
    elapsed = timed([sys.executable, "-P", "-m", "cli.main", "run", "trivial.py", "--no-cache",
                     "--batch", "in/*.txt", "--parallel", "2"], work)
    produced = len(list((work / "outputs").rglob("out.txt")))
    if produced != count:
        sys.exit(f"rgrid produced {produced} outputs, expected {count}")
    return elapsed


def run_xargs(work: Path) -> float:
    """The baseline: one sandboxed ``docker run --rm`` per file, two at a time."""
    (work / "xargs-out").mkdir(mode=0o777)
    (work / "xargs-out").chmod(0o777)
    docker = ["docker", "run", "--rm", *SANDBOX, "-v", f"{work}:/src:ro",
              "-v", f"{work}/xargs-out:/work", "-w", "/work", "rgrid/python:3.11",
              "python3", "/src/trivial.py"]
    listing = "\n".join(f"/src/in/{p.name}" for p in sorted((work / "in").iterdir()))
    return timed(["xargs", "-P2", "-n1", *docker], work, input=listing)


def wall_time(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prepared(Path(tmp), count)
        rgrid = run_rgrid(Path(tmp), count)
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report["wall"] = {"files": count, "rgrid_s": rgrid, "items_per_s": count / rgrid}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"rgrid batch of {count} files, 2 slots: {rgrid:.1f} s ({count / rgrid:.2f} items/s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--wall", type=int, help="only RGrid's wall time for this many files")
    options = parser.parse_args()
    if options.wall:
        return wall_time(options.wall)
    count = options.files
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepared(work, count)
        baseline = run_xargs(work)
        rgrid = run_rgrid(work, count)

    report = {"files": count, "rgrid_s": rgrid, "xargs_docker_s": baseline,
              "throughput_ratio": baseline / rgrid,
              "rgrid_items_per_s": count / rgrid, "xargs_items_per_s": count / baseline,
              "cpu_seconds": {"rgrid": CPU_SEEN[sys.executable], "xargs": CPU_SEEN["xargs"]}}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**previous, **report}, indent=2))
    print(f"files: {count}, 2 slots")
    print(f"rgrid batch      {rgrid:7.1f} s  ({report['rgrid_items_per_s']:.2f} items/s)")
    print(f"xargs docker run {baseline:7.1f} s  ({report['xargs_items_per_s']:.2f} items/s)")
    print(f"throughput ratio rgrid/xargs: {report['throughput_ratio']:.2f} (target >= 0.85)")
    for side, seconds in report["cpu_seconds"].items():
        print(f"CPU seconds during {side}: " + ", ".join(f"{kind} {value:g}"
                                                         for kind, value in seconds.items()))


if __name__ == "__main__":
    main()
