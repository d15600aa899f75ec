"""CPU seconds, counted for the benchmarks: this script's children's, and the machine's
long-lived processes' by kind (the API, the workers, PostgreSQL, the Prefect server, the
Docker engine), told apart by their command lines."""

from __future__ import annotations

import resource

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
