"""Totalisers to energy per hour: interpolation, estimates, resets, replaced meters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zapledger.meters import (
    MeterHour,
    channel_hours,
    hour_starts,
    hourly_energy,
    split_segments,
)
from zapledger.models import MeterReading

H0 = datetime(2026, 1, 15, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
KW = 1000  # W: 1 kW for a minute is 60 kJ


def _readings(
    points: list[tuple[timedelta, int]], meter: str = "m", channel: str = "import_t1"
) -> list[MeterReading]:
    return [MeterReading(meter, channel, H0 + dt, j, "test") for dt, j in points]


def _steady(
    power_w: float, start: timedelta, end: timedelta, step: timedelta, base: int = 0
) -> list[tuple[timedelta, int]]:
    out = []
    at = start
    while at <= end:
        out.append((at, base + round(power_w * (at - start).total_seconds())))
        at += step
    return out


def test_readings_on_the_hour_give_exact_hours() -> None:
    readings = _readings(_steady(2 * KW, timedelta(0), 3 * HOUR, timedelta(minutes=10)))
    hours = channel_hours(readings, H0, H0 + 3 * HOUR)
    assert list(hours) == [H0, H0 + HOUR, H0 + 2 * HOUR]
    for h in hours.values():
        assert h.energy_j == pytest.approx(2 * KW * 3600)
        assert h.exact
        assert (h.complete, h.estimated, h.breaks) == (True, False, 0)


def test_boundaries_are_interpolated_between_close_readings() -> None:
    points = _steady(
        KW, timedelta(seconds=7), 2 * HOUR + timedelta(seconds=10), timedelta(seconds=10)
    )
    hours = channel_hours(_readings(points), H0, H0 + 2 * HOUR)
    # readings start 7 s after 10:00: the first hour is not fully covered
    assert not hours[H0].complete
    assert hours[H0].covered_s == pytest.approx(3593)
    second = hours[H0 + HOUR]
    assert second.exact
    assert second.energy_j == pytest.approx(KW * 3600)


def test_far_apart_readings_make_an_estimate() -> None:
    # readings every 10 min, then nothing between 10:55 and 12:05
    points = _steady(KW, timedelta(0), timedelta(minutes=55), timedelta(minutes=5))
    points += [
        (timedelta(minutes=125) + timedelta(minutes=5 * k), KW * 60 * (125 + 5 * k))
        for k in range(12)
    ]
    hours = channel_hours(_readings(points), H0, H0 + 3 * HOUR)
    assert hours[H0].complete and hours[H0].estimated  # its end is interpolated over 70 min
    assert hours[H0 + HOUR].estimated
    assert not hours[H0 + 2 * HOUR].start_exact and hours[H0 + 2 * HOUR].end_exact
    # the energy is all there: 3 h at 1 kW
    total = sum(h.energy_j for h in hours.values())
    assert total == pytest.approx(3 * KW * 3600, rel=0.02)
    wide = channel_hours(_readings(points), H0, H0 + 3 * HOUR, max_bracket_s=5 * 3600)
    assert all(h.exact for h in wide.values())


def test_a_totaliser_going_backwards_starts_a_new_segment() -> None:
    before = _steady(KW, timedelta(0), timedelta(minutes=90), timedelta(minutes=5), base=10**9)
    after = _steady(KW, timedelta(minutes=100), 3 * HOUR, timedelta(minutes=5), base=0)
    readings = _readings(before + after)
    segments = split_segments(readings)
    assert [s.ended_by for s in segments] == ["reset", None]
    assert segments[0].end == H0 + timedelta(minutes=90)
    assert segments[1].start == H0 + timedelta(minutes=100)
    assert segments[0].energy_j == KW * 90 * 60
    hours = channel_hours(readings, H0, H0 + 3 * HOUR)
    assert hours[H0].exact
    replaced = hours[H0 + HOUR]
    assert replaced.breaks == 1
    assert not replaced.complete
    assert replaced.covered_s == pytest.approx(50 * 60)
    assert replaced.energy_j == pytest.approx(KW * 50 * 60)  # never negative
    assert hours[H0 + 2 * HOUR].exact


def test_an_absurd_jump_is_cut_out() -> None:
    points = _steady(KW, timedelta(0), 2 * HOUR, timedelta(minutes=5))
    spike = (timedelta(minutes=62, seconds=30), points[12][1] + 10**10)
    readings = _readings(sorted([*points, spike]))
    assert [s.ended_by for s in split_segments(readings)] == ["jump", "reset", None]
    hours = channel_hours(readings, H0, H0 + 2 * HOUR)
    assert hours[H0].exact
    assert not hours[H0 + HOUR].complete


def test_a_replaced_meter_with_another_id() -> None:
    old = _readings(
        _steady(KW, timedelta(0), timedelta(minutes=80), timedelta(minutes=5), base=10**9), "old"
    )
    new = _readings(_steady(KW, timedelta(minutes=85), 3 * HOUR, timedelta(minutes=5)), "new")
    hours = channel_hours(old + new, H0, H0 + 3 * HOUR)
    assert hours[H0].exact
    swap = hours[H0 + HOUR]
    assert swap.breaks == 1
    assert swap.covered_s == pytest.approx(55 * 60)
    assert swap.start_exact and swap.end_exact
    assert hours[H0 + 2 * HOUR].exact


def test_two_meters_on_the_same_hours_are_not_added() -> None:
    a = _readings(_steady(KW, timedelta(0), 2 * HOUR, timedelta(minutes=5)), "a")
    b = _readings(_steady(KW, timedelta(minutes=30), 2 * HOUR, timedelta(minutes=5)), "b")
    hours = channel_hours(a + b, H0, H0 + 2 * HOUR)
    assert hours[H0].energy_j == pytest.approx(KW * 3600)  # a: the one covering more
    assert hours[H0 + HOUR].energy_j == pytest.approx(KW * 3600)


def test_nothing_to_say_outside_the_readings() -> None:
    readings = _readings([(timedelta(minutes=10), 5)])
    assert channel_hours(readings, H0, H0 + HOUR) == {}
    assert channel_hours([], H0, H0 + HOUR) == {}
    later = _readings(_steady(KW, 5 * HOUR, 6 * HOUR, timedelta(minutes=5)))
    assert hourly_energy(split_segments(later), H0, H0 + 2 * HOUR) == {}
    assert hour_starts(H0, H0 + 2 * HOUR) == [H0, H0 + HOUR]


def test_meter_hour_properties() -> None:
    h = MeterHour(H0, 10.0, 3600.0, True, False)
    assert h.complete and h.estimated and not h.exact


@settings(max_examples=40, deadline=None)
@given(
    powers=st.lists(st.integers(0, 9000), min_size=6, max_size=30),
    step_s=st.sampled_from([7, 60, 300, 600]),
)
def test_hours_add_up_to_the_totaliser_difference(powers: list[int], step_s: int) -> None:
    """Whatever the reading grid, the hours of one segment sum to last minus first reading."""
    points = []
    total = 0
    t = 0
    for p in powers:
        for _ in range(max(1, 1200 // step_s)):
            points.append((timedelta(seconds=t), total))
            total += p * step_s
            t += step_s
    readings = _readings(points)
    end = H0 + timedelta(seconds=t)
    hours = channel_hours(readings, H0, end + HOUR, max_bracket_s=1e9)
    assert sum(h.energy_j for h in hours.values()) == pytest.approx(
        points[-1][1] - points[0][1], abs=1e-3
    )
    assert all(h.energy_j >= -1e-6 for h in hours.values())
