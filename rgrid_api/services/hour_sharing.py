"""Sharing a node's billing hour among the executions that ran in it: pure arithmetic on
integers (micro-euros, microseconds), no float anywhere, so the shares always sum to the
hour's price exactly.

Hetzner bills a server by the started hour from its creation; an hour closes an hour
after it began, or when the server is deleted. Each execution gets the hour's price in
proportion to its time inside the hour (largest remainder: every share is the floor of
its exact part, and the micro-euros left over go one each to the largest remainders)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Stay:
    """An execution's time on a node; ``finished`` None while it runs."""

    execution_id: str
    started: datetime
    finished: datetime | None


@dataclass(frozen=True)
class BillingHour:
    node: str
    started: datetime
    ends: datetime  # an hour later, or the deletion of the node within the hour


def inside(stay: Stay, hour: BillingHour) -> int:
    """Microseconds of ``stay`` within ``hour`` (0 if none)."""
    end = hour.ends if stay.finished is None else min(stay.finished, hour.ends)
    start = max(stay.started, hour.started)
    return max(0, (end - start) // MICROSECOND)


def shares(price_micros: int, weights: dict[str, int]) -> dict[str, int]:
    """``price_micros`` split in proportion to ``weights`` (non-negative integers), as
    integers summing to it exactly; empty when every weight is 0 (an idle hour).
    Largest remainder, ties to the smaller key: the same inputs, the same shares."""
    total = sum(weights.values())
    if price_micros < 0 or any(weight < 0 for weight in weights.values()):
        raise ValueError("a price and its weights are never negative")
    if total == 0:
        return {}
    floors = {key: price_micros * weight // total for key, weight in weights.items()}
    left = price_micros - sum(floors.values())
    by_remainder = sorted(weights, key=lambda key: (-(price_micros * weights[key] % total),
                                                    key))
    for key in by_remainder[:left]:
        floors[key] += 1
    return floors


def share_hour(price_micros: int, hour: BillingHour, stays: list[Stay]) -> dict[str, int]:
    """Each execution's part of ``hour``'s price, by its time inside the hour."""
    weights = {stay.execution_id: inside(stay, hour) for stay in stays}
    return shares(price_micros, {key: weight for key, weight in weights.items() if weight})


def closed_hours(node: str, anchor: datetime, *, after: datetime | None,
                 deleted: datetime | None, now: datetime, not_before: datetime | None = None,
                 limit: int | None = None) -> list[BillingHour]:
    """The billing hours of a node created at ``anchor`` that have closed by ``now`` and
    begin after ``after`` (the last one recorded), in order: at most ``limit``, none that
    ended before ``not_before``. The hour in which the node was deleted closes at the
    deletion."""
    hours: list[BillingHour] = []
    start = anchor if after is None else after + HOUR
    if not_before is not None and start + HOUR < not_before:
        start += ((not_before - start) // HOUR) * HOUR  # on the node's grid of hours
    while limit is None or len(hours) < limit:
        ends = start + HOUR
        if deleted is not None and deleted < ends:
            if start < deleted <= now:
                hours.append(BillingHour(node, start, deleted))
            return hours
        if ends > now:
            return hours
        hours.append(BillingHour(node, start, ends))
        start = ends
    return hours


def estimate(price_per_hour_micros: int, slots: int, seconds: timedelta) -> int:
    """An execution's estimate: its time × the node's price per slot-second, rounded half
    up once, here."""
    numerator = (seconds // MICROSECOND) * price_per_hour_micros
    denominator = (HOUR // MICROSECOND) * max(1, slots)
    return (2 * numerator + denominator) // (2 * denominator)
