"""Property tests of how a billing hour's price is shared: integers that sum exactly, in
proportion to the time inside the hour, for any executions and hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rgrid_api.services.hour_sharing import (HOUR, BillingHour, Stay, closed_hours, estimate,
                                             inside, share_hour, shares)
from rgrid_common.errors import InvalidInput
from rgrid_common.money import format_eur, micros_from_eur

T0 = datetime(2026, 11, 28, 9, 17, 3, tzinfo=timezone.utc)
prices = st.integers(min_value=0, max_value=10**12)
offsets = st.integers(min_value=-2 * 3600 * 10**6, max_value=3 * 3600 * 10**6)


@st.composite
def stays(draw) -> list[Stay]:
    count = draw(st.integers(min_value=0, max_value=30))
    found = []
    for n in range(count):
        start = T0 + timedelta(microseconds=draw(offsets))
        length = draw(st.integers(min_value=0, max_value=2 * 3600 * 10**6))
        running = draw(st.booleans())
        found.append(Stay(f"ex_{n:02d}", start,
                          None if running else start + timedelta(microseconds=length)))
    return found


@given(prices, st.dictionaries(st.text(min_size=1, max_size=4),
                               st.integers(min_value=0, max_value=10**10), max_size=40))
def test_shares_are_non_negative_integers_summing_exactly_to_the_price(price, weights):
    split = shares(price, weights)
    total = sum(weights.values())
    if total == 0:
        assert split == {}
        return
    assert sum(split.values()) == price
    for key, share in split.items():
        assert type(share) is int and share >= 0
        exact_times_total = price * weights[key]
        assert abs(share * total - exact_times_total) < total, "within a micro-euro of exact"


@given(prices, stays())
def test_an_hour_is_shared_among_exactly_the_executions_inside_it(price, found):
    hour = BillingHour("node-1", T0, T0 + HOUR)
    split = share_hour(price, hour, found)
    inside_it = {stay.execution_id for stay in found if inside(stay, hour) > 0}
    assert set(split) == inside_it
    assert sum(split.values()) == (price if inside_it else 0)
    assert all(type(share) is int for share in split.values())


@given(prices, stays())
def test_an_execution_over_several_hours_is_charged_in_each_and_the_hours_sum_exactly(
        price, found):
    hours = closed_hours("node-1", T0 - 2 * HOUR, after=None, deleted=None,
                         now=T0 + 6 * HOUR)
    per_hour = [share_hour(price, hour, found) for hour in hours]
    for stay in found:
        charged_in = [n for n, split in enumerate(per_hour) if stay.execution_id in split]
        spans = [n for n, hour in enumerate(hours) if inside(stay, hour) > 0]
        assert charged_in == spans
    assert sum(sum(split.values()) for split in per_hour) == price * sum(
        1 for split in per_hour if split)


@given(st.integers(min_value=0, max_value=20 * 3600),
       st.integers(min_value=0, max_value=30 * 3600),
       st.integers(min_value=0, max_value=30 * 3600))
def test_closed_hours_are_contiguous_whole_hours_and_the_last_closes_at_deletion(
        after_hours, deleted_after, now_after):
    anchor = T0
    deleted = anchor + timedelta(seconds=deleted_after) if deleted_after % 3 else None
    now = anchor + timedelta(seconds=now_after)
    hours = closed_hours("n", anchor, after=None, deleted=deleted, now=now)
    for earlier, later in zip(hours, hours[1:]):
        assert earlier.ends == later.started
    for hour in hours:
        assert hour.ends <= now
        assert hour.ends - hour.started == HOUR or hour.ends == deleted
    if hours:
        assert hours[0].started == anchor
    resumed = closed_hours("n", anchor, after=hours[0].started, deleted=deleted,
                           now=now) if hours else []
    assert resumed == hours[1:], "closing again from the last recorded hour goes on"


def test_a_deleted_nodes_last_hour_closes_at_deletion_and_its_price_is_whole():
    deleted = T0 + timedelta(minutes=90)
    hours = closed_hours("n", T0, after=None, deleted=deleted, now=T0 + 2 * HOUR)
    assert [(h.started, h.ends) for h in hours] == [(T0, T0 + HOUR), (T0 + HOUR, deleted)]
    split = share_hour(6000, hours[1], [Stay("a", T0 + HOUR, deleted)])
    assert split == {"a": 6000}, "Hetzner bills the started hour whole"


def test_an_execution_spanning_two_hours_is_split_by_its_time_in_each():
    stay = Stay("a", T0 + timedelta(minutes=45), T0 + timedelta(minutes=75))
    other = Stay("b", T0, T0 + timedelta(minutes=15))
    first = BillingHour("n", T0, T0 + HOUR)
    second = BillingHour("n", T0 + HOUR, T0 + 2 * HOUR)
    assert share_hour(6000, first, [stay, other]) == {"a": 3000, "b": 3000}
    assert share_hour(6000, second, [stay, other]) == {"a": 6000}


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=64),
       st.integers(min_value=0, max_value=10**7))
def test_the_estimate_is_time_times_the_price_per_slot_second_rounded_once(
        price, slots, milliseconds):
    seconds = timedelta(milliseconds=milliseconds)
    found = estimate(price, slots, seconds)
    exact_numerator = milliseconds * price
    exact_denominator = 3600 * 1000 * slots
    assert type(found) is int
    assert abs(found * exact_denominator - exact_numerator) * 2 <= exact_denominator


@pytest.mark.parametrize(("text", "micros"), [("0.0071", 7100), ("50", 50_000_000),
                                              ("0.0000005", 0), ("0.0000015", 2)])
def test_euros_become_micro_euros_through_decimal(text, micros):
    assert micros_from_eur(text) == micros


@pytest.mark.parametrize("text", ["", "abc", "-1", "NaN", "Infinity"])
def test_an_amount_that_is_not_one_is_refused_with_a_hint(text):
    with pytest.raises(InvalidInput) as refused:
        micros_from_eur(text)
    assert refused.value.hint


@pytest.mark.parametrize(("micros", "text"), [(12345, "€0.0123"), (0, "€0.0000"),
                                              (42, "€0.000042"), (50_000_000, "€50.0000")])
def test_amounts_are_printed_in_euros_only_at_the_end(micros, text):
    assert format_eur(micros) == text


def test_hours_long_past_are_skipped_on_the_nodes_grid_and_a_round_is_bounded():
    anchor = T0 - timedelta(days=3000)  # a creation time years back
    hours = closed_hours("n", anchor, after=None, deleted=None, now=T0,
                         not_before=T0 - timedelta(days=35), limit=24)
    assert len(hours) == 24
    assert hours[0].ends > T0 - timedelta(days=35) >= hours[0].started
    assert (hours[0].started - anchor) % HOUR == timedelta(0), "still on the node's grid"
