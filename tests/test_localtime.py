"""Local-day arithmetic: DST days of 23/25 hours, zones east and west of UTC, merging."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zapledger.exceptions import ConfigError
from zapledger.localtime import (
    MAX_RECORDS_PER_REQUEST,
    HistoryRequest,
    expected_records,
    is_settled,
    local_day_hours,
    local_day_window,
    local_days,
    merge_histories,
    parse_tz,
    requests_for_local_day,
    to_local,
    utc_day_window,
    window_from,
)
from zapledger.models import History, HistoryRecord, Resolution

H = Resolution.HOUR
M = Resolution.MINUTE


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- zones -----------------------------------------------------------------------------------


def test_parse_tz_names_and_passthrough() -> None:
    assert parse_tz("Europe/London") == ZoneInfo("Europe/London")
    assert parse_tz(" Europe/Amsterdam ") == ZoneInfo("Europe/Amsterdam")
    zone = ZoneInfo("Australia/Sydney")
    assert parse_tz(zone) is zone


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "   ", "../etc/passwd", "Europe"])
def test_parse_tz_unknown_is_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="time zone"):
        parse_tz(name)


def test_to_local() -> None:
    local = to_local(utc(2024, 7, 1, 12), "Europe/Amsterdam")
    assert (local.hour, local.utcoffset()) == (14, timedelta(hours=2))
    assert to_local(utc(2024, 1, 1, 12), "America/New_York").hour == 7
    with pytest.raises(ValueError, match="aware"):
        to_local(datetime(2024, 1, 1), "UTC")


# --- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "start", "end", "hours"),
    [
        # Normal days: east and west of UTC, and UTC itself in winter.
        ("Europe/London", date(2024, 1, 15), utc(2024, 1, 15), utc(2024, 1, 16), 24),
        ("Europe/London", date(2024, 7, 1), utc(2024, 6, 30, 23), utc(2024, 7, 1, 23), 24),
        ("Europe/Amsterdam", date(2024, 7, 1), utc(2024, 6, 30, 22), utc(2024, 7, 1, 22), 24),
        ("Australia/Sydney", date(2024, 7, 1), utc(2024, 6, 30, 14), utc(2024, 7, 1, 14), 24),
        ("America/New_York", date(2024, 7, 1), utc(2024, 7, 1, 4), utc(2024, 7, 2, 4), 24),
        # Spring forward: 23 hours.
        ("Europe/London", date(2024, 3, 31), utc(2024, 3, 31), utc(2024, 3, 31, 23), 23),
        ("Europe/Amsterdam", date(2024, 3, 31), utc(2024, 3, 30, 23), utc(2024, 3, 31, 22), 23),
        ("America/New_York", date(2024, 3, 10), utc(2024, 3, 10, 5), utc(2024, 3, 11, 4), 23),
        ("Australia/Sydney", date(2024, 10, 6), utc(2024, 10, 5, 14), utc(2024, 10, 6, 13), 23),
        # Fall back: 25 hours.
        ("Europe/London", date(2024, 10, 27), utc(2024, 10, 26, 23), utc(2024, 10, 28), 25),
        ("Europe/Amsterdam", date(2024, 10, 27), utc(2024, 10, 26, 22), utc(2024, 10, 27, 23), 25),
        ("America/New_York", date(2024, 11, 3), utc(2024, 11, 3, 4), utc(2024, 11, 4, 5), 25),
        ("Australia/Sydney", date(2024, 4, 7), utc(2024, 4, 6, 13), utc(2024, 4, 7, 14), 25),
        ("Europe/London", date(2021, 3, 28), utc(2021, 3, 28), utc(2021, 3, 28, 23), 23),
        ("Europe/London", date(2021, 10, 31), utc(2021, 10, 30, 23), utc(2021, 11, 1), 25),
    ],
)
def test_local_day_window_and_length(
    tz: str, day: date, start: datetime, end: datetime, hours: int
) -> None:
    assert local_day_window(day, tz) == (start, end)
    assert local_day_window(day, tz, H) == (start, end)
    assert local_day_hours(day, tz) == hours
    assert expected_records(day, tz, H) == hours
    assert expected_records(day, tz, M) == hours * 60
    assert local_day_window(day, ZoneInfo(tz)) == (start, end)


def test_half_hour_zone_counts_the_hours_that_start_in_the_day() -> None:
    # Asia/Kolkata is UTC+5:30: the day starts at 18:30 UTC; the hour from 18:00 is the day before.
    day = date(2024, 7, 1)
    assert local_day_window(day, "Asia/Kolkata") == (
        utc(2024, 6, 30, 18, 30),
        utc(2024, 7, 1, 18, 30),
    )
    assert local_day_window(day, "Asia/Kolkata", H) == (utc(2024, 6, 30, 19), utc(2024, 7, 1, 19))
    assert local_day_window(day, "Asia/Kolkata", M) == local_day_window(day, "Asia/Kolkata")
    assert local_day_hours(day, "Asia/Kolkata") == 24
    assert expected_records(day, "Asia/Kolkata", M) == 1440
    # Lord Howe shifts by 30 minutes: 23.5 and 24.5 hour days.
    assert expected_records(date(2024, 10, 6), "Australia/Lord_Howe", M) == 1410
    assert expected_records(date(2024, 4, 7), "Australia/Lord_Howe", M) == 1470
    assert local_day_hours(date(2024, 10, 6), "Australia/Lord_Howe") in (23, 24)


def test_a_skipped_day_is_empty() -> None:
    # Samoa jumped over 30 December 2011.
    start, end = local_day_window(date(2011, 12, 30), "Pacific/Apia")
    assert start == end
    assert expected_records(date(2011, 12, 30), "Pacific/Apia", M) == 0
    assert requests_for_local_day(date(2011, 12, 30), "Pacific/Apia", H) == []


def test_midnight_skipped_by_dst_starts_the_day_at_the_jump() -> None:
    # Sao Paulo 2018-11-04: clocks went from 00:00 to 01:00, so the day began at 03:00 UTC.
    assert local_day_window(date(2018, 11, 4), "America/Sao_Paulo") == (
        utc(2018, 11, 4, 3),
        utc(2018, 11, 5, 2),
    )
    assert local_day_hours(date(2018, 11, 4), "America/Sao_Paulo") == 23


def test_utc_day_window_and_window_from() -> None:
    assert utc_day_window(date(2024, 3, 5)) == (utc(2024, 3, 5), utc(2024, 3, 6))
    assert window_from(utc(2024, 3, 5, 23), 25, H) == (utc(2024, 3, 5, 23), utc(2024, 3, 7))
    assert window_from(utc(2024, 3, 5), 90, M) == (utc(2024, 3, 5), utc(2024, 3, 5, 1, 30))


# --- requests --------------------------------------------------------------------------------


def test_requests_for_local_day_hours() -> None:
    assert requests_for_local_day(date(2024, 10, 27), "Europe/London", H) == [
        HistoryRequest(date(2024, 10, 26), 23, 0, 25)
    ]
    assert requests_for_local_day(date(2024, 3, 31), "Europe/Amsterdam", H) == [
        HistoryRequest(date(2024, 3, 30), 23, 0, 23)
    ]
    assert requests_for_local_day(date(2024, 1, 15), "Europe/London", H) == [
        HistoryRequest(date(2024, 1, 15), 0, 0, 24)
    ]


def test_requests_for_local_day_minutes_split_at_1440() -> None:
    reqs = requests_for_local_day(date(2024, 10, 27), "Europe/London", M)
    assert reqs == [
        HistoryRequest(date(2024, 10, 26), 23, 0, 1440),
        HistoryRequest(date(2024, 10, 27), 23, 0, 60),
    ]
    assert reqs[0].start == utc(2024, 10, 26, 23)
    assert reqs[1].window(M) == (utc(2024, 10, 27, 23), utc(2024, 10, 28))
    spring = requests_for_local_day(date(2024, 3, 31), "Europe/London", M)
    assert spring == [HistoryRequest(date(2024, 3, 31), 0, 0, 1380)]
    sydney = requests_for_local_day(date(2024, 7, 1), "Australia/Sydney", M)
    assert sydney == [HistoryRequest(date(2024, 6, 30), 14, 0, 1440)]


# --- settling and ranges ---------------------------------------------------------------------


def test_is_settled() -> None:
    day = date(2024, 7, 1)  # London: ends 2024-07-01 23:00 UTC
    end = utc(2024, 7, 1, 23)
    assert not is_settled(day, "Europe/London", end)
    assert not is_settled(day, "Europe/London", end + timedelta(hours=6) - timedelta(seconds=1))
    assert is_settled(day, "Europe/London", end + timedelta(hours=6))
    assert is_settled(day, "Europe/London", end + timedelta(hours=1), settle=timedelta(hours=1))
    assert is_settled(day, "Europe/London", end, settle=timedelta(0))
    with pytest.raises(ValueError, match="aware"):
        is_settled(day, "Europe/London", datetime(2025, 1, 1))


def test_local_days() -> None:
    assert local_days(date(2024, 2, 27), date(2024, 3, 1)) == [
        date(2024, 2, 27),
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert local_days(date(2024, 3, 1), date(2024, 3, 1)) == [date(2024, 3, 1)]
    assert local_days(date(2024, 3, 2), date(2024, 3, 1)) == []


# --- merging ---------------------------------------------------------------------------------


def rec(ts: datetime, imp: int = 0, step: int = 3600) -> HistoryRecord:
    return HistoryRecord(ts, step, import_j=imp)


def test_merge_histories_dedupes_windows_and_finds_gaps() -> None:
    a = History("1", H, (rec(utc(2024, 1, 1, 0), 1), rec(utc(2024, 1, 1, 1), 2)), 1, 0, ())
    b = History(
        "1", H, (rec(utc(2024, 1, 1, 1), 20), rec(utc(2024, 1, 1, 3), 3), rec(utc(2024, 1, 2)))
    )
    merged = merge_histories([a, b], window=(utc(2024, 1, 1), utc(2024, 1, 1, 5)))
    assert [r.import_j for r in merged.records] == [1, 20, 3]  # the later history wins
    assert merged.duplicates_dropped == 2  # one from a's own decoding, one overlap
    assert merged.outside_window == 1
    assert [(g.start, g.end, g.missing) for g in merged.gaps] == [
        (utc(2024, 1, 1, 2), utc(2024, 1, 1, 3), 1),
        (utc(2024, 1, 1, 4), utc(2024, 1, 1, 5), 1),
    ]
    assert merged.missing == 2


def test_merge_histories_without_window() -> None:
    a = History("1", H, (rec(utc(2024, 1, 1, 0)), rec(utc(2024, 1, 1, 3))))
    merged = merge_histories([a])
    assert merged.missing == 2
    assert merge_histories([History("1", H, ())]).records == ()
    empty = merge_histories([History("1", H, ())], window=(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert empty.missing == 24


def test_merge_histories_refuses_mixtures() -> None:
    with pytest.raises(ValueError, match="at least one"):
        merge_histories([])
    with pytest.raises(ValueError, match="minute and hour"):
        merge_histories([History("1", H, ()), History("1", M, ())])
    with pytest.raises(ValueError, match="histories of"):
        merge_histories([History("1", H, ()), History("2", H, ())])


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Amsterdam",
    "Australia/Sydney",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Kiritimati",
]
#: Zones where every instant of a local day's exact span has that local date.
PLAIN_ZONES = ZONES[:8]

days = st.dates(min_value=date(1980, 1, 1), max_value=date(2037, 12, 31))


@settings(max_examples=300, deadline=None)
@given(day=days, tz=st.sampled_from(ZONES), resolution=st.sampled_from([H, M]))
def test_windows_are_contiguous_and_requests_cover_them(
    day: date, tz: str, resolution: Resolution
) -> None:
    start, end = local_day_window(day, tz, resolution)
    next_start, _ = local_day_window(day + timedelta(days=1), tz, resolution)
    assert start <= end
    assert end == next_start  # consecutive days partition time: nothing lost, nothing twice
    step = timedelta(seconds=resolution.seconds)
    assert (start - utc(1970, 1, 1)) % step == timedelta(0)  # on the UTC record grid
    reqs = requests_for_local_day(day, tz, resolution)
    at = start
    for r in reqs:
        assert r.start == at
        assert 1 <= r.count <= MAX_RECORDS_PER_REQUEST
        at = r.window(resolution)[1]
    assert at == end
    assert sum(r.count for r in reqs) == expected_records(day, tz, resolution)
    if tz != "Pacific/Apia":
        assert 22 * 3600 <= (end - start).total_seconds() <= 26 * 3600


@settings(max_examples=200, deadline=None)
@given(day=days, tz=st.sampled_from(PLAIN_ZONES))
def test_exact_window_is_the_local_day(day: date, tz: str) -> None:
    start, end = local_day_window(day, tz)
    assert to_local(start, tz).date() == day
    assert to_local(start - timedelta(microseconds=1), tz).date() == day - timedelta(days=1)
    assert to_local(end - timedelta(microseconds=1), tz).date() == day
    assert to_local(end, tz).date() == day + timedelta(days=1)
    assert local_day_hours(day, tz) in (23, 24, 25)
