"""Maps what happened to the container to the execution's final status and error."""

from __future__ import annotations

from flows.container import ContainerOutcome
from rgrid_common.protocol import FinishRequest, JobSpec
from rgrid_common.status import ExecutionStatus

TRACEBACK_TAIL_LINES = 20


def finish_report(outcome: ContainerOutcome, job: JobSpec, stderr_tail: str) -> FinishRequest:
    if outcome.timed_out:
        return FinishRequest(status=ExecutionStatus.TIMED_OUT, exit_code=outcome.exit_code,
                             error=f"timed out after {job.timeout_seconds} s")
    if outcome.oom_killed:
        return FinishRequest(status=ExecutionStatus.FAILED, exit_code=outcome.exit_code,
                             error=f"killed: out of memory ({job.memory_mb} MB)")
    if outcome.exit_code == 0:
        return FinishRequest(status=ExecutionStatus.SUCCEEDED, exit_code=0)
    return FinishRequest(status=ExecutionStatus.FAILED, exit_code=outcome.exit_code,
                         error=_tail(stderr_tail) or f"exited with code {outcome.exit_code}")


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TRACEBACK_TAIL_LINES:])
