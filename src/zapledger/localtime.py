"""Day arithmetic between UTC records and local calendar days; merging of fetched histories.

The cloud keeps history in UTC minutes and hours, while people think in local days of 23, 24 or
25 hours. Everything here is pure (no I/O): which UTC span a local day covers, how many records it
should hold, which ``cgi-jday``/``cgi-jdayhour`` requests fetch it, and when it is final.

A record belongs to the local day in which it *starts*. In zones whose offset is not a whole
number of hours (Asia/Kolkata, Australia/Lord_Howe in summer) a local day therefore holds the
UTC hours that start within it, so consecutive days still partition the records exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .exceptions import ConfigError, UsageError
from .models import History, HistoryRecord, Resolution, find_gaps

__all__ = [
    "DEFAULT_SETTLE",
    "EARLIEST_DAY",
    "LATEST_DAY",
    "MAX_RECORDS_PER_REQUEST",
    "HistoryRequest",
    "check_day",
    "check_range",
    "check_time",
    "expected_records",
    "is_settled",
    "local_day_hours",
    "local_day_window",
    "local_days",
    "merge_histories",
    "parse_tz",
    "requests_for_local_day",
    "to_local",
    "today",
    "utc_day_window",
    "window_from",
]

#: The most records one ``cgi-jday``/``cgi-jdayhour`` request is asked for (the API's limit for
#: minutes; used for hours too, where a local day needs at most 25).
MAX_RECORDS_PER_REQUEST = 1440
#: Cloud data can still change for hours after a period ends; a day is final this long after it.
DEFAULT_SETTLE = timedelta(hours=6)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """One history request: ``count`` records from ``hour``:``minute`` UTC on ``day`` (a UTC date).

    The run may continue into the next UTC day; the API allows that.
    """

    day: date
    hour: int
    minute: int
    count: int

    @property
    def start(self) -> datetime:
        """The UTC start of the first record asked for."""
        return datetime.combine(self.day, time(self.hour, self.minute), tzinfo=UTC)

    def window(self, resolution: Resolution) -> tuple[datetime, datetime]:
        """The UTC span ``[start, end)`` these records cover."""
        return window_from(self.start, self.count, resolution)


def parse_tz(tz: str | ZoneInfo) -> ZoneInfo:
    """An IANA zone from its name; :class:`ConfigError` naming it when it is unknown."""
    if isinstance(tz, ZoneInfo):
        return tz
    name = tz.strip()
    if not name:
        raise ConfigError("empty time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"unknown time zone {tz!r} (use an IANA name like Europe/London)"
        ) from None


def to_local(ts: datetime, tz: str | ZoneInfo) -> datetime:
    """An aware instant in the local time of ``tz`` (the one conversion for display)."""
    if ts.tzinfo is None:
        raise ValueError("to_local needs an aware datetime (UTC inside zapledger)")
    return ts.astimezone(parse_tz(tz))


def utc_day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC span of one UTC calendar day, what ``cgi-jday-Z<sn>-Y-M-D`` answers for."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def window_from(start: datetime, count: int, resolution: Resolution) -> tuple[datetime, datetime]:
    """``[start, start + count records)``."""
    return start, start + timedelta(seconds=count * resolution.seconds)


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    # fold=0: an ambiguous midnight means its first occurrence; a midnight skipped by a DST jump
    # maps to the instant of the jump, where the local day really begins.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _ceil(ts: datetime, step_s: int) -> datetime:
    """The first record boundary (UTC grid of ``step_s``) at or after ``ts``."""
    offset = (ts - _EPOCH) % timedelta(seconds=step_s)
    return ts if not offset else ts + (timedelta(seconds=step_s) - offset)


def local_day_window(
    day: date, tz: str | ZoneInfo, resolution: Resolution | None = None
) -> tuple[datetime, datetime]:
    """The UTC span ``[start, end)`` of a local calendar day.

    Without ``resolution``: local midnight to the next local midnight, exactly. With it: the
    span of the records that start within the day (identical in whole-hour zones).
    """
    zone = parse_tz(tz)
    start = _local_midnight_utc(day, zone)
    end = _local_midnight_utc(day + timedelta(days=1), zone)
    if resolution is not None:
        start, end = _ceil(start, resolution.seconds), _ceil(end, resolution.seconds)
    return start, max(start, end)


def expected_records(day: date, tz: str | ZoneInfo, resolution: Resolution) -> int:
    """How many records a complete local day holds (1380/1440/1500 minutes, 23/24/25 hours)."""
    start, end = local_day_window(day, tz, resolution)
    return (end - start) // timedelta(seconds=resolution.seconds)


def local_day_hours(day: date, tz: str | ZoneInfo) -> int:
    """Hourly records in a local day: 23, 24 or 25 (spring-forward, normal, fall-back day)."""
    return expected_records(day, tz, Resolution.HOUR)


def requests_for_local_day(
    day: date, tz: str | ZoneInfo, resolution: Resolution
) -> list[HistoryRequest]:
    """The requests that fetch exactly one local day, in order, each of at most 1440 records.

    One request for hours (23–25 records); two for a 1500-minute fall-back day.
    """
    start, end = local_day_window(day, tz, resolution)
    step = timedelta(seconds=resolution.seconds)
    requests: list[HistoryRequest] = []
    at = start
    while at < end:
        count = min(MAX_RECORDS_PER_REQUEST, (end - at) // step)
        requests.append(HistoryRequest(at.date(), at.hour, at.minute, count))
        at += count * step
    return requests


def is_settled(
    day: date, tz: str | ZoneInfo, now: datetime, settle: timedelta = DEFAULT_SETTLE
) -> bool:
    """Whether a local day's data is final: its end is at least ``settle`` in the past."""
    if now.tzinfo is None:
        raise ValueError("is_settled needs an aware 'now'")
    return local_day_window(day, tz)[1] + settle <= now


def local_days(since: date, until: date) -> list[date]:
    """The calendar days from ``since`` to ``until``, both included (empty if until < since)."""
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def merge_histories(
    histories: Iterable[History], *, window: tuple[datetime, datetime] | None = None
) -> History:
    """One History from several of the same serial and resolution (e.g. two minute requests).

    Records are deduplicated on the timestamp (a later history wins), limited to ``window`` when
    given, and the gaps are recomputed: over ``window``, else from the first to the last record.
    """
    parts = list(histories)
    if not parts:
        raise ValueError("merge_histories needs at least one History")
    serial, resolution = parts[0].serial, parts[0].resolution
    for h in parts[1:]:
        if h.resolution is not resolution:
            raise ValueError("cannot merge minute and hour histories")
        if h.serial != serial:
            raise ValueError(f"cannot merge histories of {serial} and {h.serial}")
    by_ts: dict[datetime, HistoryRecord] = {}
    total = 0
    for h in parts:
        total += len(h.records)
        for rec in h.records:
            by_ts[rec.timestamp] = rec
    duplicates = sum(h.duplicates_dropped for h in parts) + total - len(by_ts)
    outside = sum(h.outside_window for h in parts)
    records = sorted(by_ts.values(), key=lambda r: r.timestamp)
    step = resolution.seconds
    if window is not None:
        start, end = window
        kept = [r for r in records if start <= r.timestamp < end]
        outside += len(records) - len(kept)
        records = kept
    else:
        if not records:
            return History(serial, resolution, (), duplicates, outside, ())
        start = records[0].timestamp
        end = records[-1].timestamp + timedelta(seconds=step)
    gaps = find_gaps([r.timestamp for r in records], start, end, step)
    return History(serial, resolution, tuple(records), duplicates, outside, gaps)


#: The days zapledger accepts: no zappi reported before 2000, and a sane upper bound keeps every
#: computed instant representable.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)


def today(tz: str, now: datetime | None = None) -> date:
    """The local calendar day of ``now`` (default: the current time) in ``tz``."""
    return to_local(now or datetime.now(UTC), parse_tz(tz)).date()


def check_day(day: date, what: str = "date") -> date:
    """``day`` if it lies in EARLIEST_DAY..LATEST_DAY, else UsageError naming the range."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise UsageError(
            f"{what} {day.isoformat()} is outside {EARLIEST_DAY.isoformat()} to "
            f"{LATEST_DAY.isoformat()}"
        )
    return day


def check_time(ts: datetime, what: str = "time") -> datetime:
    """An aware time whose UTC day lies in EARLIEST_DAY..LATEST_DAY (as UTC), else UsageError."""
    try:
        utc = ts.astimezone(UTC)
    except (OverflowError, ValueError):
        raise UsageError(
            f"{what} {ts.isoformat()} is outside {EARLIEST_DAY.isoformat()} to "
            f"{LATEST_DAY.isoformat()}"
        ) from None
    check_day(utc.date(), what)
    return utc


def check_range(first_day: date, last_day: date) -> tuple[date, date]:
    """The range itself when it is forwards and within the accepted days, else UsageError."""
    for name, day in (("first day", first_day), ("last day", last_day)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise UsageError(
                f"{name} {day.isoformat()} is outside {EARLIEST_DAY.isoformat()} to "
                f"{LATEST_DAY.isoformat()}"
            )
    if last_day < first_day:
        raise UsageError(
            f"the range is backwards: {last_day.isoformat()} is before {first_day.isoformat()}"
        )
    return first_day, last_day
