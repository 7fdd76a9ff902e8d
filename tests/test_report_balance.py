"""Balance maths on plain EnergyBucket sequences: formulas, hour/minute merging, local periods."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from zapledger.localtime import local_day_window
from zapledger.models import Energy, EnergyBucket, Period, Resolution
from zapledger.report import (
    Coverage,
    HourlySeries,
    SlotStatus,
    aggregate,
    merge_hours,
    period_spans,
)

H = timedelta(hours=1)
T0 = datetime(2024, 6, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def row(
    start: datetime, records: int, imp: int = 0, exp: int = 0, gen: int = 0, **kw: int
) -> EnergyBucket:
    energy = Energy(imp, exp, gen, kw.get("gen_neg", 0), kw.get("div", 0), kw.get("boost", 0))
    return EnergyBucket(start, records, energy)


def test_energy_formulas() -> None:
    e = Energy(
        import_j=4_000,
        export_j=3_000,
        generation_j=10_000,
        generation_negative_j=50,
        diverted_j=2_000,
        boosted_j=1_000,
    )
    assert e.ev_j == 3_000
    assert e.consumption_j == 10_000 + 4_000 - 3_000
    assert e.house_j == 11_000 - 3_000
    assert e.self_consumed_j == 7_000
    assert e.self_consumption_rate == pytest.approx(0.7)
    assert e.self_sufficiency_rate == pytest.approx(7_000 / 11_000)
    assert e.ev_solar_share == pytest.approx(2 / 3)
    d = e.as_dict()
    assert d["house_j"] == 8_000
    assert d["house_kwh"] == pytest.approx(8_000 / 3_600_000)
    assert d["ev_solar_share"] == pytest.approx(2 / 3)
    assert e + e == Energy(8_000, 6_000, 20_000, 100, 4_000, 2_000)


def test_rates_undefined_without_generation_consumption_or_ev() -> None:
    assert Energy().self_consumption_rate is None
    assert Energy().self_sufficiency_rate is None
    assert Energy().ev_solar_share is None
    night = Energy(import_j=1_000, generation_negative_j=20)
    assert night.self_consumption_rate is None
    assert night.self_sufficiency_rate == 0.0


def test_hour_rows_win_minute_rows_fill_gaps() -> None:
    hours = [row(T0, 1, imp=100), row(T0 + 2 * H, 1, imp=300)]
    minutes = [
        row(T0, 60, imp=999),  # ignored: the hourly record wins
        row(T0 + H, 60, imp=200),  # complete minute fallback
        row(T0 + 3 * H, 45, imp=40),  # partial
    ]
    slots = merge_hours(T0, T0 + 5 * H, hours, minutes, now=T0 + 5 * H)
    assert [s.status for s in slots] == [
        SlotStatus.HOUR,
        SlotStatus.MINUTE,
        SlotStatus.HOUR,
        SlotStatus.PARTIAL,
        SlotStatus.MISSING,
    ]
    assert [s.energy.import_j for s in slots] == [100, 200, 300, 40, 0]
    assert [s.complete for s in slots] == [True, True, True, False, False]
    assert [s.counted for s in slots] == [True, True, True, True, False]


def test_future_and_provisional_hours() -> None:
    slots = merge_hours(
        T0,
        T0 + 3 * H,
        [row(T0, 1, imp=1)],
        [],
        now=T0 + 90 * timedelta(minutes=1),
        provisional=[(T0, T0 + H)],
    )
    assert [s.status for s in slots] == [SlotStatus.HOUR, SlotStatus.FUTURE, SlotStatus.FUTURE]
    assert slots[0].provisional and not slots[0].complete
    cov = Coverage.of_slots(slots)
    assert cov.problems() == ["2 h not over yet", "1 h not final"]
    assert not cov.complete and cov.has_data


def test_several_devices_need_a_record_each() -> None:
    hours = [row(T0, 2, imp=10), row(T0 + H, 1, imp=5)]
    minutes = [row(T0 + H, 120, imp=7), row(T0 + 2 * H, 60, imp=3)]
    slots = merge_hours(T0, T0 + 3 * H, hours, minutes, now=FAR, devices=2)
    assert [s.status for s in slots] == [SlotStatus.HOUR, SlotStatus.MINUTE, SlotStatus.PARTIAL]
    assert [s.energy.import_j for s in slots] == [10, 7, 3]


def test_partial_hour_row_preferred_over_nothing() -> None:
    slots = merge_hours(T0, T0 + H, [row(T0, 1, imp=10)], [], now=FAR, devices=2)
    assert slots[0].status is SlotStatus.PARTIAL
    assert slots[0].energy.import_j == 10


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2024, 3, 31), 23), (date(2024, 10, 27), 25), (date(2024, 6, 1), 24)],
)
def test_local_days_have_23_24_or_25_hours(day: date, hours: int) -> None:
    spans = period_spans(Period.HOUR, day, day, "Europe/London")
    assert len(spans) == hours
    ((a, b, label),) = period_spans(Period.DAY, day, day, "Europe/London")
    assert (b - a) == hours * H
    assert label == day.isoformat()


def test_fall_back_hour_labels_are_distinct() -> None:
    labels = [
        s[2]
        for s in period_spans(Period.HOUR, date(2024, 10, 27), date(2024, 10, 27), "Europe/London")
    ]
    assert labels[1] == "2024-10-27 01:00 BST"
    assert labels[2] == "2024-10-27 01:00 GMT"
    assert len(set(labels)) == 25


def test_months_and_years_are_local_and_partition_the_range() -> None:
    tz = "America/New_York"
    months = period_spans(Period.MONTH, date(2023, 12, 15), date(2024, 3, 31), tz)
    assert [m[2] for m in months] == ["2023-12", "2024-01", "2024-02", "2024-03"]
    for (_a, b, _), (c, _d, _) in itertools.pairwise(months):
        assert b == c
    assert months[1][0] == datetime(2024, 1, 1, 5, tzinfo=UTC)
    # March 2024 in New York loses an hour to DST
    assert months[3][1] - months[3][0] == (31 * 24 - 1) * H
    years = period_spans(Period.YEAR, date(2023, 12, 15), date(2024, 3, 31), tz)
    assert [y[2] for y in years] == ["2023", "2024"]
    assert period_spans(Period.DAY, date(2024, 1, 2), date(2024, 1, 1), tz) == []


def test_half_hour_zone_days_still_partition_utc_hours() -> None:
    tz = "Asia/Kolkata"
    days = period_spans(Period.DAY, date(2024, 1, 1), date(2024, 1, 3), tz)
    for a, b, _ in days:
        assert a.minute == 0 and b.minute == 0
        assert b - a == 24 * H
    assert days[0][1] == days[1][0]


def _series(first: date, last: date, tz: str, per_hour: int = 3_600) -> HourlySeries:
    start = local_day_window(first, tz, Resolution.HOUR)[0]
    end = local_day_window(last, tz, Resolution.HOUR)[1]
    hours = []
    at = start
    while at < end:
        hours.append(row(at, 1, imp=per_hour, gen=2 * per_hour, exp=per_hour, div=per_hour // 2))
        at += H
    return HourlySeries(start, end, merge_hours(start, end, hours, [], now=FAR))


def test_aggregate_sums_every_hour_once_across_dst() -> None:
    tz = "Europe/London"
    series = _series(date(2024, 3, 30), date(2024, 4, 1), tz)
    report = aggregate(series, Period.DAY, date(2024, 3, 30), date(2024, 4, 1), tz)
    assert [r.coverage.expected_hours for r in report.rows] == [24, 23, 24]
    assert [r.energy.import_j for r in report.rows] == [24 * 3_600, 23 * 3_600, 24 * 3_600]
    assert report.total.energy.import_j == 71 * 3_600
    assert report.total.coverage.complete
    assert report.total.label == "Total"
    assert not report.incomplete
    d = report.as_dict()
    assert d["rows"][1]["start_local"] == "2024-03-31T00:00:00+00:00"
    assert d["rows"][1]["end_local"] == "2024-04-01T00:00:00+01:00"
    assert d["total"]["expected_hours"] == 71
    assert d["complete"] is True


def test_aggregate_marks_periods_without_data() -> None:
    tz = "UTC"
    series = _series(date(2024, 1, 1), date(2024, 1, 1), tz)
    report = aggregate(series, Period.DAY, date(2024, 1, 1), date(2024, 1, 2), tz)
    assert report.rows[1].coverage.missing_hours == 24  # outside the series: nothing at all
    assert not report.rows[1].coverage.has_data
    assert not report.rows[1].coverage.complete
    assert [r.label for r in report.incomplete] == ["2024-01-02"]
