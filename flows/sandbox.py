"""The sandbox every user container runs in (SPEC §1): the one place its options live."""

from __future__ import annotations

from pathlib import Path

from rgrid_common.protocol import WORK_DIR, JobSpec

TMPFS_SIZE = "64m"
EXECUTION_LABEL = "rgrid.execution"
WORKER_LABEL = "rgrid.worker"
ATTEMPT_LABEL = "rgrid.attempt"


def container_options(job: JobSpec, *, work_dir: Path, uid: int, worker: str,
                      runtime: str = "runc") -> dict:
    """Keyword arguments for ``docker.containers.create``; ``runtime`` is the engine's OCI
    runtime (``runsc``: gVisor)."""
    return {
        "image": job.image,
        "runtime": runtime,
        "command": job.command,
        "user": f"{uid}:{uid}",
        "working_dir": WORK_DIR,
        "environment": {
            "HOME": "/tmp",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **job.env,
        },
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={TMPFS_SIZE}"},
        "volumes": {str(work_dir): {"bind": WORK_DIR, "mode": "rw"}},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "pids_limit": job.pids_limit,
        "mem_limit": f"{job.memory_mb}m",
        "memswap_limit": f"{job.memory_mb}m",
        "nano_cpus": int(job.cpus * 1_000_000_000),
        "labels": {EXECUTION_LABEL: job.execution_id, ATTEMPT_LABEL: str(job.attempt),
                   WORKER_LABEL: worker},
        "detach": True,
    }
