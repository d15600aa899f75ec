"""Spend per day as bars for an SVG drawn by the cost page's template: a picture with no
script and nothing loaded, every bar titled with its day and amount."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rgrid_api.schemas import CostLine
from rgrid_common.money import format_eur

WIDTH, HEIGHT, GAP = 600, 160, 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    title: str


def day_bars(lines: list[CostLine], first: date, last: date) -> list[Bar]:
    """A bar per day from ``first`` to ``last`` (days without spend are empty bars), each
    as tall as its day's spend against the largest day's."""
    spent = {line.key: line.estimated_micros + line.final_micros for line in lines}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    top = max(spent.values(), default=0) or 1
    width = WIDTH / len(days)
    bars = []
    for n, day in enumerate(days):
        key = day.isoformat()
        micros = spent.get(key, 0)
        height = HEIGHT * micros / top
        bars.append(Bar(x=n * width, y=HEIGHT - height, width=max(width - GAP, 1),
                        height=height, day=key, title=f"{key}: {format_eur(micros)}"))
    return bars
