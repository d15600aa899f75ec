"""Work pool definitions. ``PROCESS_POOL`` is the single-machine default."""

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkPoolSpec:
    name: str
    type: str
    description: str


PROCESS_POOL = WorkPoolSpec(
    name="rgrid-process",
    type="process",
    description="Single-machine default: the worker runs each flow run as a local process.",
)
