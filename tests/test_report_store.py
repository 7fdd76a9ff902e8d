"""The balance read from a real SQLite store equals sums taken straight from the stored joules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from test_report_data import NOW, SECOND_SERIAL, SERIAL, direct_sums, fill, minutes
from zapledger.models import History, Period, Resolution
from zapledger.report import SlotStatus, balance, hourly_series
from zapledger.store import Store, open_store
from zone_windows import day_window

TZ = "Europe/London"
H = timedelta(hours=1)
FIELDS = (
    "import_j",
    "export_j",
    "generation_j",
    "generation_negative_j",
    "diverted_j",
    "boosted_j",
)


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        yield s


def _energy(report_row: object) -> dict[str, int]:
    energy = report_row.energy  # type: ignore[attr-defined]
    return {f: getattr(energy, f) for f in FIELDS}


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 10, 27), date(2024, 7, 15)])
@pytest.mark.parametrize("resolution", [Resolution.HOUR, Resolution.MINUTE])
def test_day_equals_direct_sums_on_dst_days(
    store: Store, day: date, resolution: Resolution
) -> None:
    fill(
        store,
        day - timedelta(days=1),
        day + timedelta(days=1),
        TZ,
        minute=resolution is Resolution.MINUTE,
        hour=resolution is Resolution.HOUR,
    )
    report = balance(store, day, day, TZ, period="day", now=NOW)
    (row,) = report.rows
    start, end = day_window(day, TZ)
    assert _energy(row) == direct_sums(store, SERIAL, resolution, start, end)
    assert row.coverage.complete
    assert row.coverage.expected_hours == (end - start) // H
    e = row.energy
    assert e.house_j == e.generation_j + e.import_j - e.export_j - e.diverted_j - e.boosted_j


def test_hours_of_a_fall_back_day_equal_minute_sums(store: Store) -> None:
    day = date(2024, 10, 27)
    fill(store, day, day, TZ, hour=False)
    report = balance(store, day, day, TZ, period=Period.HOUR, now=NOW)
    start = datetime(2024, 10, 26, 23, tzinfo=UTC)  # local midnight in BST; 01:00 comes twice
    assert [(r.start, r.end) for r in report.rows] == [
        (start + i * H, start + (i + 1) * H) for i in range(25)
    ]
    for r in report.rows:
        assert _energy(r) == direct_sums(store, SERIAL, Resolution.MINUTE, r.start, r.end)
        assert r.coverage.minute_hours == 1
    whole_day = direct_sums(store, SERIAL, Resolution.MINUTE, start, start + 25 * H)
    assert _energy(report.total) == whole_day


def test_months_and_years_equal_direct_sums(store: Store) -> None:
    fill(store, date(2024, 3, 25), date(2024, 4, 5), TZ, minute=False)
    report = balance(store, date(2024, 3, 25), date(2024, 4, 5), TZ, period="month", now=NOW)
    assert [r.label for r in report.rows] == ["2024-03", "2024-04"]
    # GMT until 01:00 UTC on 31 March, BST (UTC+1) after
    march = (datetime(2024, 3, 25, tzinfo=UTC), datetime(2024, 3, 31, 23, tzinfo=UTC))
    april = (datetime(2024, 3, 31, 23, tzinfo=UTC), datetime(2024, 4, 5, 23, tzinfo=UTC))
    for r, (lo, hi) in zip(report.rows, (march, april), strict=True):
        assert _energy(r) == direct_sums(store, SERIAL, Resolution.HOUR, lo, hi)
    year = balance(store, date(2024, 3, 25), date(2024, 4, 5), TZ, period="year", now=NOW)
    whole = direct_sums(store, SERIAL, Resolution.HOUR, march[0], april[1])
    assert _energy(year.rows[0]) == _energy(report.total) == whole


def test_minute_fallback_where_hours_are_missing(store: Store) -> None:
    day = date(2024, 6, 3)
    start, _ = day_window(day, TZ)
    dropped_hours = [start + 5 * H, start + 6 * H]
    fill(store, day, day, TZ, drop_hours=dropped_hours)
    series = hourly_series(store, day, day, TZ, now=NOW)
    status = {s.start: s.status for s in series.slots}
    assert status[start + 5 * H] is SlotStatus.MINUTE
    assert status[start + 4 * H] is SlotStatus.HOUR
    (row,) = balance(store, day, day, TZ, now=NOW).rows
    assert row.coverage.complete
    assert row.coverage.minute_hours == 2
    from_hours = direct_sums(store, SERIAL, Resolution.HOUR, *day_window(day, TZ))
    from_minutes = [direct_sums(store, SERIAL, Resolution.MINUTE, h, h + H) for h in dropped_hours]
    assert _energy(row) == {f: from_hours[f] + sum(m[f] for m in from_minutes) for f in FIELDS}


def test_missing_minutes_are_reported_not_hidden(store: Store) -> None:
    day = date(2024, 6, 3)
    start, _ = day_window(day, TZ)
    gone = [start + 9 * H + timedelta(minutes=m) for m in range(10)]
    gone += [start + 20 * H + timedelta(minutes=m) for m in range(60)]
    fill(store, day, day, TZ, hour=False, drop_minutes=gone)
    (row,) = balance(store, day, day, TZ, now=NOW).rows
    assert not row.coverage.complete
    assert row.coverage.partial_hours == 1
    assert row.coverage.missing_hours == 1
    assert row.coverage.problems() == ["1 h without data", "1 h with minutes missing"]
    assert _energy(row) == direct_sums(store, SERIAL, Resolution.MINUTE, *day_window(day, TZ))


def test_days_not_final_and_failures_are_flagged(store: Store) -> None:
    day = date(2024, 6, 3)
    fill(store, day, day, TZ, final=False)
    store.record_failure(SERIAL, Resolution.HOUR, day + timedelta(days=1), TZ, "timeout", NOW)
    report = balance(store, day, day + timedelta(days=1), TZ, now=NOW)
    first, second = report.rows
    assert first.coverage.provisional_hours == 24
    assert "24 h not final" in first.coverage.problems()
    assert second.coverage.missing_hours == 24
    assert any("last fetch failed (timeout)" in n for n in report.notes)


def test_suspect_and_duplicate_notes(store: Store) -> None:
    day = date(2024, 6, 3)
    start, end = day_window(day, TZ)
    recs = minutes(start, end)
    bad = msgspec.structs.replace(recs[0], voltage_v=0.0)
    history = History(SERIAL, Resolution.MINUTE, (bad, *recs[1:]), duplicates_dropped=1)
    store.upsert_device(SERIAL, "zappi")
    store.write_day(
        SERIAL, Resolution.MINUTE, day, TZ, history, expected=1440, final=True, fetched_at=NOW
    )
    notes = balance(store, day, day, TZ, now=NOW).notes
    assert any("1 minute record(s) with implausible voltage" in n for n in notes)
    assert any("1 duplicate minute record(s)" in n for n in notes)


def test_site_not_double_counted_over_two_zappis(store: Store) -> None:
    day = date(2024, 6, 3)
    fill(store, day, day, TZ)
    fill(store, day, day, TZ, serial=SECOND_SERIAL, ev=False)  # same grid CT, no EV
    window = day_window(day, TZ)
    one = direct_sums(store, SERIAL, Resolution.HOUR, *window)
    (row,) = balance(store, day, day, TZ, now=NOW).rows
    assert row.coverage.complete
    assert _energy(row) == one
    (second,) = balance(store, day, day, TZ, serial=SECOND_SERIAL, now=NOW).rows
    assert second.energy.ev_j == 0


def test_two_zappis_fall_back_to_minutes_of_both(store: Store) -> None:
    day = date(2024, 6, 3)
    start, _ = day_window(day, TZ)
    fill(store, day, day, TZ)
    fill(store, day, day, TZ, serial=SECOND_SERIAL, drop_hours=[start + 12 * H])
    series = hourly_series(store, day, day, TZ, now=NOW)
    slot = next(s for s in series.slots if s.start == start + 12 * H)
    assert slot.status is SlotStatus.MINUTE
    assert slot.records == 120
    both_ev = sum(
        direct_sums(store, sn, Resolution.MINUTE, slot.start, slot.start + H)["diverted_j"]
        for sn in (SERIAL, SECOND_SERIAL)
    )
    assert slot.energy.diverted_j == both_ev


def test_future_hours_of_today(store: Store) -> None:
    day = date(2024, 6, 3)
    fill(store, day, day, TZ)
    start, _ = day_window(day, TZ)
    (row,) = balance(store, day, day, TZ, now=start + 10 * H).rows
    assert row.coverage.future_hours == 0  # the stored hours count, even "from the future"
    empty = date(2024, 6, 4)
    (later,) = balance(store, empty, empty, TZ, now=datetime(2024, 6, 4, 12, tzinfo=UTC)).rows
    assert later.coverage.future_hours == 11  # the local day began at 23:00 UTC
    assert later.coverage.missing_hours == 13
