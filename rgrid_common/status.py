"""Statuses and kinds that cross process boundaries, and the execution transitions allowed.

Every status change of an execution goes through ``rgrid_api.services.lifecycle``, which
allows exactly the moves in ``ALLOWED_TRANSITIONS``.
"""

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
    # running: claimed by a flow run; succeeded: answered from the result cache;
    # failed: its attempts spent before one started; cancelled: by its owner.
    ExecutionStatus.QUEUED: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED,
                                       ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}),
    # queued: its attempt failed for a reason not its own, and it is retried.
    ExecutionStatus.RUNNING: FINISHED_STATUSES | {ExecutionStatus.QUEUED},
}


def can_transition(current: ExecutionStatus, new: ExecutionStatus) -> bool:
    return new in ALLOWED_TRANSITIONS.get(current, frozenset())


def sources_of(new: ExecutionStatus) -> frozenset[ExecutionStatus]:
    """The statuses from which an execution may move to ``new``."""
    return frozenset(current for current, targets in ALLOWED_TRANSITIONS.items()
                     if new in targets)


class BatchStatus(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"  # every item ended by itself
    CANCELLED = "cancelled"  # its owner cancelled it

    @property
    def is_finished(self) -> bool:
        return self != BatchStatus.RUNNING


class ArtifactKind(str, Enum):
    INPUT = "input"
    OUTPUT = "output"


class CacheOutcome(str, Enum):
    """What a cache did for an execution: its result cache, or its dependency layer."""

    HIT = "hit"
    MISS = "miss"
    OFF = "off"  # the result cache was not asked (--no-cache, a retry)


class NodeState(str, Enum):
    """A worker node, as the autoscaler sees it."""

    PROVISIONING = "provisioning"  # its server exists; its worker has not polled yet
    READY = "ready"  # its worker polls the pool
    DELETED = "deleted"


class AutoscalerEventKind(str, Enum):
    DECISION = "decision"
    PROVISION = "provision"
    DELETE = "delete"
    ERROR = "error"
