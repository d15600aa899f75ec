"""The sandbox every user container runs in (SPEC §1): the one place its options live."""

from __future__ import annotations

from pathlib import Path

from docker import APIClient
from docker.types import LogConfig

from rgrid_common.protocol import WORK_DIR, JobSpec

TMPFS_SIZE = "64m"
EXECUTION_LABEL = "rgrid.execution"
WORKER_LABEL = "rgrid.worker"
ATTEMPT_LABEL = "rgrid.attempt"


def container_config(job: JobSpec, *, work_dir: Path, uid: int, worker: str,
                     api: APIClient, runtime: str = "runc") -> dict:
    """Keyword arguments for the engine API's ``create_container``; ``runtime`` is the
    engine's OCI runtime (``runsc``: gVisor). The engine keeps no log of the container
    (log driver ``none``): its output is read as it is written, from the attach
    (``flows.container``), so writing it to a file on the node as well was work for
    nothing."""
    return {
        "image": job.image,
        "command": job.command,
        "user": f"{uid}:{uid}",
        "working_dir": WORK_DIR,
        "environment": {
            "HOME": "/tmp",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **job.env,
        },
        "labels": {EXECUTION_LABEL: job.execution_id, ATTEMPT_LABEL: str(job.attempt),
                   WORKER_LABEL: worker},
        "detach": True,
        "host_config": api.create_host_config(
            runtime=runtime,
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={TMPFS_SIZE}"},
            binds={str(work_dir): {"bind": WORK_DIR, "mode": "rw"}},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            privileged=False,
            pids_limit=job.pids_limit,
            mem_limit=f"{job.memory_mb}m",
            memswap_limit=f"{job.memory_mb}m",
            nano_cpus=int(job.cpus * 1_000_000_000),
            log_config=LogConfig(type=LogConfig.types.NONE),
        ),
    }
