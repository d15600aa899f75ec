"""Execution statuses and the transitions allowed between them."""

from __future__ import annotations

from enum import Enum


class ExecutionStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset(
    {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT,
     ExecutionStatus.CANCELLED}
)

ALLOWED_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.QUEUED: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.FAILED,
                                       ExecutionStatus.CANCELLED}),
    ExecutionStatus.RUNNING: FINISHED_STATUSES,
}


def can_transition(current: ExecutionStatus, new: ExecutionStatus) -> bool:
    return new in ALLOWED_TRANSITIONS.get(current, frozenset())
