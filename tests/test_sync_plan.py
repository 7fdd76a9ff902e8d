"""Planning a sync: which days are fetched, and why (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from zapledger.backfill import DayReason, day_reason, plan_days, split_days
from zapledger.backfill._run import _items
from zapledger.localtime import local_days
from zapledger.models import History, HistoryRecord, Resolution
from zapledger.store import SyncState
from zone_windows import day_window

TZ = "Europe/London"
DAY = date(2024, 5, 10)
DAY_END = day_window(DAY, TZ)[1]


def state(
    day: date = DAY,
    *,
    fetched_at: datetime | None = None,
    final: bool = True,
    missing: int = 0,
    attempts: int = 0,
    error: str | None = None,
    tz: str = TZ,
) -> SyncState:
    start = day_window(day, tz)[0]
    return SyncState(
        serial="10000001",
        resolution=Resolution.MINUTE,
        day=day,
        tz=tz,
        day_start=start,
        fetched_at=fetched_at if fetched_at is not None else DAY_END + timedelta(days=30),
        records=1440 - missing,
        expected=1440,
        missing=missing,
        duplicates_dropped=0,
        suspect=0,
        final=final,
        attempts=attempts,
        error=error,
    )


NOW = DAY_END + timedelta(days=60)


def reason(s: SyncState | None, now: datetime = NOW) -> DayReason | None:
    return day_reason(s, DAY, tz=TZ, now=now)


def test_missing_day_is_fetched() -> None:
    assert reason(None) is DayReason.MISSING


def test_complete_final_day_is_not_fetched() -> None:
    assert reason(state()) is None


def test_state_of_another_zone_counts_as_missing() -> None:
    assert reason(state(tz="Europe/Amsterdam")) is DayReason.MISSING


def test_not_final_day_is_fetched_again() -> None:
    assert reason(state(final=False)) is DayReason.NOT_FINAL


def test_failed_day_is_retried_until_it_failed_often_enough() -> None:
    assert reason(state(error="HTTP 500", attempts=1, fetched_at=None)) is DayReason.FAILED
    assert reason(state(error="HTTP 500", attempts=4)) is DayReason.FAILED
    assert reason(state(error="HTTP 500", attempts=5)) is None


def test_a_state_without_any_fetch_is_missing() -> None:
    s = replace(state(), fetched_at=None)
    assert reason(s) is DayReason.MISSING


def test_gaps_of_an_old_day_fetched_in_a_backfill_are_accepted() -> None:
    assert reason(state(missing=12, fetched_at=DAY_END + timedelta(days=30))) is None


def test_gaps_of_a_young_day_are_retried_on_a_schedule_then_accepted() -> None:
    """Retries at 12 h, 24 h and 48 h after the day's end (2, 4, 8 x the 6 h settling time)."""
    fetched = DAY_END + timedelta(hours=7)
    gappy = state(missing=3, fetched_at=fetched)
    assert reason(gappy, now=DAY_END + timedelta(hours=11)) is None
    assert reason(gappy, now=DAY_END + timedelta(hours=12)) is DayReason.GAPS
    second = state(missing=3, fetched_at=DAY_END + timedelta(hours=12, minutes=1))
    assert reason(second, now=DAY_END + timedelta(hours=20)) is None
    assert reason(second, now=DAY_END + timedelta(hours=30)) is DayReason.GAPS
    third = state(missing=3, fetched_at=DAY_END + timedelta(hours=30))
    assert reason(third, now=DAY_END + timedelta(hours=48)) is DayReason.GAPS
    last = state(missing=3, fetched_at=DAY_END + timedelta(hours=49))
    assert reason(last, now=DAY_END + timedelta(days=365)) is None


def test_gap_retries_zero_accepts_gaps_at_once() -> None:
    gappy = state(missing=3, fetched_at=DAY_END + timedelta(hours=7))
    assert day_reason(gappy, DAY, tz=TZ, now=NOW, gap_retries=0) is None


def test_plan_days_keeps_calendar_order_and_reasons() -> None:
    days = local_days(date(2024, 5, 8), date(2024, 5, 12))
    states = {
        date(2024, 5, 8): state(date(2024, 5, 8)),
        date(2024, 5, 9): state(date(2024, 5, 9), final=False),
        date(2024, 5, 11): state(date(2024, 5, 11), error="bad payload", attempts=1),
    }
    plan = plan_days(states, days, serial="10000001", resolution=Resolution.MINUTE, tz=TZ, now=NOW)
    assert [(p.day.day, p.reason) for p in plan] == [
        (9, DayReason.NOT_FINAL),
        (10, DayReason.MISSING),
        (11, DayReason.FAILED),
        (12, DayReason.MISSING),
    ]
    assert {p.resolution for p in plan} == {Resolution.MINUTE}


def test_hour_days_are_chunked_minute_days_are_not() -> None:
    days = local_days(date(2024, 1, 1), date(2024, 3, 1))  # 61 days
    plan = plan_days({}, days, serial="1", resolution=Resolution.HOUR, tz=TZ, now=NOW)
    plan += plan_days({}, days, serial="1", resolution=Resolution.MINUTE, tz=TZ, now=NOW)
    items = _items(plan, TZ, 30)
    hours = [it for it in items if it.resolution is Resolution.HOUR]
    minutes = [it for it in items if it.resolution is Resolution.MINUTE]
    assert [len(it.days) for it in hours] == [30, 30, 1]
    assert len(minutes) == 61 and all(len(it.days) == 1 for it in minutes)
    # calendar order: an hour chunk comes right after the minute item of its first day
    assert items[0].resolution is Resolution.MINUTE and items[1] is hours[0]
    firsts = [it.days[0] for it in items]
    assert firsts == sorted(firsts)


def test_hour_chunks_break_at_holes_in_the_plan() -> None:
    days = [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 5)]
    plan = plan_days({}, days, serial="1", resolution=Resolution.HOUR, tz=TZ, now=NOW)
    assert [len(it.days) for it in _items(plan, TZ, 30)] == [2, 1]


def test_hour_chunks_never_ask_for_more_than_1440_hours() -> None:
    days = local_days(date(2024, 1, 1), date(2024, 4, 1))
    plan = plan_days({}, days, serial="1", resolution=Resolution.HOUR, tz=TZ, now=NOW)
    assert [len(it.days) for it in _items(plan, TZ, 57)][:2] == [57, 35]
    # 57 days of 25 h would be 1425: the limit is on hours, not on days
    assert all(len(it.days) * 24 <= 1440 for it in _items(plan, TZ, 57))


def _hours(
    start: datetime, n: int, skip: frozenset[int] = frozenset()
) -> tuple[HistoryRecord, ...]:
    return tuple(
        HistoryRecord(start + timedelta(hours=i), 3600, import_j=i)
        for i in range(n)
        if i not in skip
    )


@pytest.mark.parametrize(
    ("tz", "days", "sizes"),
    [
        ("Europe/London", [date(2021, 3, 27), date(2021, 3, 28), date(2021, 3, 29)], [24, 23, 24]),
        (
            "Europe/Amsterdam",
            [date(2021, 10, 30), date(2021, 10, 31), date(2021, 11, 1)],
            [24, 25, 24],
        ),
    ],
)
def test_split_days_cuts_local_days_across_dst(tz: str, days: list[date], sizes: list[int]) -> None:
    start = day_window(days[0], tz)[0]
    history = History("1", Resolution.HOUR, _hours(start, sum(sizes), skip=frozenset({30})), 2)
    parts = split_days(history, days, tz)
    assert [d for d, _ in parts] == days
    assert [len(h.records) for _, h in parts] == [sizes[0], sizes[1] - 1, sizes[2]]
    assert [h.missing for _, h in parts] == [0, 1, 0]
    assert [h.duplicates_dropped for _, h in parts] == [2, 0, 0]
    for day, part in parts:
        lo, hi = day_window(day, tz)
        assert all(lo <= r.timestamp < hi for r in part.records)


def test_split_days_ignores_records_outside_the_days() -> None:
    day = date(2024, 7, 1)
    start = datetime(2024, 6, 30, 23, tzinfo=UTC)  # London midnight in BST
    history = History("1", Resolution.HOUR, _hours(start - timedelta(hours=2), 28))
    ((_, part),) = split_days(history, [day], TZ)
    assert len(part.records) == 24 and part.missing == 0
    assert part.records[0].timestamp == start
    assert start.tzinfo is UTC
