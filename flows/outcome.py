"""Maps what happened to the container to the execution's final status and error."""

from __future__ import annotations

from flows.container import ContainerOutcome
from rgrid_common.limits import size_text
from rgrid_common.protocol import FinishRequest, JobSpec
from rgrid_common.status import ExecutionStatus

TRACEBACK_TAIL_LINES = 20


def finish_report(outcome: ContainerOutcome, job: JobSpec, stderr_tail: str, *,
                  disk_full: bool = False) -> FinishRequest:
    """``disk_full``: /work reached its allowance, so a write failed (whatever the script
    made of it) and what it left may be cut short."""
    if outcome.timed_out:
        return FinishRequest(status=ExecutionStatus.TIMED_OUT, exit_code=outcome.exit_code,
                             error=f"timed out after {job.timeout_seconds} s")
    if outcome.oom_killed:
        return FinishRequest(status=ExecutionStatus.FAILED, exit_code=outcome.exit_code,
                             error=f"killed: out of memory ({job.memory_mb} MB)")
    if disk_full:
        return FinishRequest(status=ExecutionStatus.FAILED, exit_code=outcome.exit_code,
                             error=f"disk limit reached ({size_text(job.disk_mb)}): /work "
                                   f"is full; ask for more with --disk")
    if outcome.exit_code == 0:
        return FinishRequest(status=ExecutionStatus.SUCCEEDED, exit_code=0)
    return FinishRequest(status=ExecutionStatus.FAILED, exit_code=outcome.exit_code,
                         error=_tail(stderr_tail) or f"exited with code {outcome.exit_code}")


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TRACEBACK_TAIL_LINES:])
