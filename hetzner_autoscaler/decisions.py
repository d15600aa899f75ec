"""What the autoscaler decides from what it sees: pure, so every rule is tested with an
injected clock.

- **Grow (SPEC 4-2).** Provision ``ceil((queued - available_slots) / slots_per_node)``
  nodes, but only when the queue will not drain within ``drain_target_seconds`` on the
  slots there are (booting nodes count: they are coming), and never beyond ``max_nodes``.
- **Shrink (4-3).** A node with nothing running, while nothing waits, is kept until the
  last ``delete_within_seconds`` of its billing hour (it is paid for until then), then
  deleted.
- **Heal (4-5).** A node whose worker has been silent for ``dead_after_seconds``, or that
  never brought a worker up within ``boot_timeout_seconds``, is dead: deleted, and left out
  of the capacity, so the grow rule replaces it when the queue needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class NodeView:
    name: str
    server_id: int
    created_at: datetime
    worker_seen_at: datetime | None  # the last heartbeat of the worker named as the node
    running: int = 0  # executions running on it


@dataclass(frozen=True)
class Observation:
    now: datetime
    queued: int  # executions that would start now if there were slots
    nodes: tuple[NodeView, ...]
    mean_duration_seconds: float | None  # of recent executions; None when unknown


@dataclass(frozen=True)
class Policy:
    slots_per_node: int = 2  # a CX22
    max_nodes: int = 10
    drain_target_seconds: float = 300
    dead_after_seconds: float = 120
    boot_timeout_seconds: float = 600
    billing_period_seconds: float = 3600
    delete_within_seconds: float = 120
    assumed_duration_seconds: float = 60  # before any execution has finished


@dataclass(frozen=True)
class Removal:
    node: NodeView
    reason: str
    dead: bool


@dataclass
class Decision:
    create: int = 0
    remove: list[Removal] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons) or "nothing to do"


def decide(seen: Observation, policy: Policy) -> Decision:
    dead = [Removal(node, why, dead=True) for node in seen.nodes
            if (why := _why_dead(node, seen.now, policy))]
    dead_names = {removal.node.name for removal in dead}
    live = [node for node in seen.nodes if node.name not in dead_names]
    decision = Decision(remove=list(dead), reasons=[f"{r.node.name}: {r.reason}" for r in dead])
    decision.inputs = _inputs(seen, live, policy)
    decision.create = _to_create(seen, live, policy, decision)
    if seen.queued == 0:
        for node in live:
            if why := _why_idle_and_due(node, seen.now, policy):
                decision.remove.append(Removal(node, why, dead=False))
                decision.reasons.append(f"{node.name}: {why}")
    return decision


def _why_dead(node: NodeView, now: datetime, policy: Policy) -> str | None:
    if node.worker_seen_at is not None:
        silent = (now - node.worker_seen_at).total_seconds()
        if silent > policy.dead_after_seconds:
            return f"dead: its worker has been silent for {silent:.0f} s"
        return None
    age = (now - node.created_at).total_seconds()
    if age > policy.boot_timeout_seconds:
        return f"dead: no worker came up within {age:.0f} s of its creation"
    return None


def _inputs(seen: Observation, live: list[NodeView], policy: Policy) -> dict:
    slots = len(live) * policy.slots_per_node
    busy = sum(node.running for node in live)
    duration = seen.mean_duration_seconds or policy.assumed_duration_seconds
    return {"queued": seen.queued, "nodes": len(live), "slots": slots,
            "available_slots": max(0, slots - busy), "mean_duration_seconds": duration,
            "drain_seconds": _drain_seconds(seen.queued, slots, duration),
            "max_nodes": policy.max_nodes, "at": seen.now.isoformat()}


def _drain_seconds(queued: int, slots: int, duration: float) -> float | None:
    """How long the queue takes on ``slots``, in waves of ``duration``; None for never."""
    if queued == 0:
        return 0.0
    if slots == 0:
        return None
    return math.ceil(queued / slots) * duration


def _to_create(seen: Observation, live: list[NodeView], policy: Policy,
               decision: Decision) -> int:
    inputs = decision.inputs
    short = seen.queued - inputs["available_slots"]
    if short <= 0:
        return 0
    drain = inputs["drain_seconds"]
    if drain is not None and drain <= policy.drain_target_seconds:
        decision.reasons.append(f"{seen.queued} queued drain in about {drain:.0f} s on "
                                f"{inputs['slots']} slots; no new node")
        return 0
    wanted = math.ceil(short / policy.slots_per_node)
    allowed = max(0, policy.max_nodes - len(live))
    create = min(wanted, allowed)
    eta = "never" if drain is None else f"in about {drain:.0f} s"
    reason = (f"{seen.queued} queued, {inputs['available_slots']} slots free, would drain "
              f"{eta}: {wanted} node{'s' * (wanted != 1)} wanted")
    if create < wanted:
        reason += f", {create} allowed by the maximum of {policy.max_nodes}"
    decision.reasons.append(reason)
    return create


def _why_idle_and_due(node: NodeView, now: datetime, policy: Policy) -> str | None:
    if node.running or node.worker_seen_at is None:
        return None
    age = (now - node.created_at).total_seconds()
    period = policy.billing_period_seconds
    left = (math.floor(age / period) + 1) * period - age
    if left > policy.delete_within_seconds:
        return None
    return f"idle, {left:.0f} s before the end of its billing hour"


def as_record(decision: Decision) -> dict:
    """The decision with its inputs, as stored in the event log."""
    return {"create": decision.create, "reasons": decision.reasons,
            "remove": [{"node": r.node.name, "reason": r.reason, "dead": r.dead}
                       for r in decision.remove],
            "inputs": decision.inputs}
