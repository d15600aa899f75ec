"""CPU seconds, counted for the benchmarks: this script's children's, and the machine's
long-lived processes' by kind (the API, the workers, PostgreSQL, the Prefect server, the
Docker engine), told apart by their command lines."""

from __future__ import annotations

import resource
import sys
import time

import psutil

# The first kind whose mark is in a command line counts it (a PostgreSQL backend's title
# names its database, "rgrid_prefect": postgresql before the Prefect server).
CPU_KINDS = {"rgrid api": "rgrid_api", "workers (and their flows)": "work_pools.warm_worker",
             "postgresql": "postgres", "prefect server": "prefect", "dockerd": "dockerd",
             "containerd": "containerd"}
ENGINE = ("dockerd", "containerd")
MACHINE = "machine busy"


def children_cpu() -> float:
    """The CPU seconds of this process's children that have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_by_kind() -> dict[str, float]:
    """CPU seconds so far of each kind of process in ``CPU_KINDS``, and the machine's."""
    seconds = dict.fromkeys(CPU_KINDS, 0.0)
    seconds[MACHINE] = sum(psutil.cpu_times()) - psutil.cpu_times().idle
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        command = " ".join(process.info["cmdline"] or [])
        for kind, mark in CPU_KINDS.items():
            if mark in command and process.info["cpu_times"]:
                times = process.info["cpu_times"]
                seconds[kind] += times.user + times.system
                break
    return seconds


def engine_cpu() -> float:
    """CPU seconds so far of the Docker engine (dockerd and containerd)."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] in ENGINE and process.info["cpu_times"]:
            total += process.info["cpu_times"].user + process.info["cpu_times"].system
    return total


def wait_until_idle(*, share: float = 0.1, window: float = 3.0, timeout: float = 120.0) -> None:
    """Waits until the stack's processes (``CPU_KINDS``) used less than ``share`` of a core
    over ``window`` seconds: a stack just started keeps busy for a while (deployments,
    its first polls), and whichever side ran then was slowed by it. Says so if it never
    settles within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_by_kind()
        time.sleep(window)
        after = cpu_by_kind()
        used = sum(after[kind] - before[kind] for kind in CPU_KINDS)
        if used < share * window:
            return
    print(f"warning: the stack did not settle within {timeout:.0f} s", file=sys.stderr)
