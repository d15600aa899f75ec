"""The autoscaler's decision table, with an injected clock: queue sizes, slot counts,
drain estimates, billing-hour boundaries, dead workers, the maximum."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hetzner_autoscaler.decisions import NodeView, Observation, Policy, as_record, decide

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
POLICY = Policy(slots_per_node=2, max_nodes=5, drain_target_seconds=300,
                dead_after_seconds=120, boot_timeout_seconds=600,
                billing_period_seconds=3600, delete_within_seconds=120,
                assumed_duration_seconds=60)


def node(name: str, *, age: float = 600, seen_ago: float | None = 5,
         running: int = 0) -> NodeView:
    return NodeView(name=name, server_id=hash(name) % 10_000,
                    created_at=NOW - timedelta(seconds=age),
                    worker_seen_at=None if seen_ago is None else NOW - timedelta(seconds=seen_ago),
                    running=running)


def seen(queued: int, *nodes: NodeView, duration: float | None = 60) -> Observation:
    return Observation(now=NOW, queued=queued, nodes=tuple(nodes),
                       mean_duration_seconds=duration)


@pytest.mark.parametrize(("observation", "create"), [
    # empty pool: any queue never drains, ceil(queued / 2) nodes
    (seen(1), 1),
    (seen(3), 2),
    (seen(7), 4),
    # the maximum caps it
    (seen(40), 5),
    # nothing queued: nothing to create
    (seen(0, node("a")), 0),
    # queue fits the free slots
    (seen(2, node("a")), 0),
    (seen(4, node("a"), node("b", running=0)), 0),
    # short of slots but the queue drains within 5 minutes: ceil(12/2) * 20 s = 120 s
    (seen(12, node("a", running=2), duration=20), 0),
    # exactly at the target still drains in time: ceil(10/2) * 60 = 300 s
    (seen(10, node("a", running=2), duration=60), 0),
    # one wave more does not: ceil(11/2) * 60 = 360 s -> (11 - 0) / 2 -> 6, capped 4 more
    (seen(11, node("a", running=2), duration=60), 4),
    # long executions: 4 queued of 10 min on 2 busy slots -> ceil((4 - 0) / 2) = 2
    (seen(4, node("a", running=2), duration=600), 2),
    # free slots count: 6 queued, 1 free of 2 -> ceil(5 / 2) = 3
    (seen(6, node("a", running=1), duration=600), 3),
    # a booting node (no worker yet) counts as coming capacity
    (seen(2, node("b", age=30, seen_ago=None)), 0),
    (seen(5, node("b", age=30, seen_ago=None), duration=600), 2),
    # unknown duration: the assumed 60 s
    (seen(10, node("a", running=2), duration=None), 0),
    # at the maximum already
    (seen(50, *(node(f"n{i}", running=2) for i in range(5)), duration=600), 0),
])
def test_how_many_nodes_to_create(observation, create):
    assert decide(observation, POLICY).create == create


def test_the_reason_names_the_inputs_and_the_cap():
    decision = decide(seen(40), POLICY)
    assert decision.summary == ("40 queued, 0 slots free, would drain never: 20 nodes "
                                "wanted, 5 allowed by the maximum of 5")
    record = as_record(decision)
    assert record["inputs"]["queued"] == 40 and record["inputs"]["drain_seconds"] is None
    assert record["inputs"]["at"] == NOW.isoformat()


def test_a_queue_that_drains_in_time_is_explained_too():
    decision = decide(seen(12, node("a", running=2), duration=20), POLICY)
    assert decision.summary == "12 queued drain in about 120 s on 2 slots; no new node"


@pytest.mark.parametrize(("age", "deleted"), [
    (60, False),            # new: 58 minutes of its hour left
    (3600 - 121, False),    # just outside the last two minutes
    (3600 - 119, True),     # inside them
    (3600 + 60, False),     # second hour just begun
    (2 * 3600 - 30, True),  # end of the second hour
])
def test_an_idle_node_goes_only_at_the_end_of_its_billing_hour(age, deleted):
    decision = decide(seen(0, node("a", age=age)), POLICY)
    assert [r.node.name for r in decision.remove] == (["a"] if deleted else [])
    if deleted:
        assert "idle" in decision.remove[0].reason and not decision.remove[0].dead


def test_a_busy_node_or_a_waiting_queue_keeps_a_node_past_its_hour():
    assert decide(seen(0, node("a", age=3590, running=1)), POLICY).remove == []
    assert decide(seen(1, node("a", age=3590)), POLICY).remove == []


def test_a_silent_worker_is_dead_deleted_and_replaced_when_the_queue_needs_it():
    decision = decide(seen(3, node("a", seen_ago=121, running=2), node("b", running=2),
                           duration=600), POLICY)
    [removed] = decision.remove
    assert removed.node.name == "a" and removed.dead
    assert removed.reason == "dead: its worker has been silent for 121 s"
    # b alone: 2 slots, busy; 3 queued of 10 min -> ceil(3 / 2) = 2 new nodes
    assert decision.create == 2
    assert decision.inputs["nodes"] == 1


def test_a_dead_node_is_not_replaced_when_nothing_waits():
    decision = decide(seen(0, node("a", seen_ago=500)), POLICY)
    assert [r.node.name for r in decision.remove] == ["a"] and decision.create == 0


def test_a_node_whose_worker_never_came_up_is_dead_after_the_boot_timeout():
    assert decide(seen(0, node("a", age=599, seen_ago=None)), POLICY).remove == []
    [removed] = decide(seen(0, node("a", age=601, seen_ago=None)), POLICY).remove
    assert removed.dead and "no worker came up within 601 s" in removed.reason
