"""The cost page's bars: one per day, days without spend empty, heights against the
largest day, each titled with its day and amount."""

from datetime import date

from rgrid_api.console.chart import HEIGHT, WIDTH, day_bars
from rgrid_api.schemas import CostLine
from rgrid_common.money import format_eur


def line(day: str, estimated: int, final: int = 0) -> CostLine:
    return CostLine(key=day, executions=1, compute_microseconds=0,
                    estimated_micros=estimated, final_micros=final)


def test_a_bar_per_day_as_tall_as_its_spend_against_the_largest_day():
    bars = day_bars([line("2026-11-02", 300, 100), line("2026-11-04", 200)],
                    date(2026, 11, 1), date(2026, 11, 4))
    assert [bar.day for bar in bars] == ["2026-11-01", "2026-11-02", "2026-11-03",
                                         "2026-11-04"]
    assert [bar.height for bar in bars] == [0, HEIGHT, 0, HEIGHT / 2]
    assert all(bar.y + bar.height == HEIGHT for bar in bars)
    assert bars[-1].x + bars[-1].width <= WIDTH
    assert bars[1].title == f"2026-11-02: {format_eur(400)}"


def test_no_spend_draws_empty_bars_not_a_division_by_zero():
    bars = day_bars([], date(2026, 11, 1), date(2026, 11, 30))
    assert len(bars) == 30 and {bar.height for bar in bars} == {0}
