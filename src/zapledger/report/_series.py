"""The hourly series every report is built from: stored joules per UTC hour, and how complete.

An hour's energy comes from the hourly table when it holds the hour, else from the sum of that
hour's minute records; each hour carries how complete it is, so a period says it is incomplete
instead of silently under-counting. :class:`Energy` holds the sums and the derived balance; the
formulas are written down in ``docs/formulas.md``.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from ..localtime import local_day_window
from ..models import Energy, EnergyBucket, Resolution
from ..store import Store

__all__ = [
    "HOUR",
    "MINUTES_PER_HOUR",
    "Coverage",
    "HourSlot",
    "HourlySeries",
    "SlotStatus",
    "hourly_series",
    "merge_hours",
    "slots_between",
    "utc_hours",
]

HOUR = timedelta(hours=1)
MINUTES_PER_HOUR = 60
#: Above this many separate gaps, the minute fallback reads their whole span in one query.
_MAX_FALLBACK_QUERIES = 40


class SlotStatus(enum.StrEnum):
    """Where the energy of one UTC hour comes from."""

    HOUR = "hour"  # the hourly record
    MINUTE = "minute"  # all 60 minute records summed (no hourly record)
    PARTIAL = "partial"  # some minute records summed: the hour is under-counted
    MISSING = "missing"  # no record at all
    FUTURE = "future"  # the hour has not ended yet


class HourSlot(msgspec.Struct, frozen=True, gc=False):
    """One UTC hour of the series: its energy, where it came from, and whether it is final."""

    start: datetime
    energy: Energy
    status: SlotStatus
    records: int
    provisional: bool = False

    @property
    def counted(self) -> bool:
        """Whether the hour holds data (complete or not)."""
        return self.status in (SlotStatus.HOUR, SlotStatus.MINUTE, SlotStatus.PARTIAL)

    @property
    def complete(self) -> bool:
        return self.status in (SlotStatus.HOUR, SlotStatus.MINUTE) and not self.provisional


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many of a period's hours are backed by data, and how."""

    expected_hours: int = 0
    hour_rows: int = 0
    minute_hours: int = 0
    partial_hours: int = 0
    missing_hours: int = 0
    future_hours: int = 0
    provisional_hours: int = 0
    records: int = 0

    @classmethod
    def of_slots(cls, slots: Sequence[HourSlot], expected_hours: int | None = None) -> Coverage:
        """Counts of the slots; hours of ``expected_hours`` without a slot count as missing."""
        counts = dict.fromkeys(SlotStatus, 0)
        provisional = records = 0
        for s in slots:
            counts[s.status] += 1
            provisional += s.provisional
            records += s.records
        expected = len(slots) if expected_hours is None else max(expected_hours, len(slots))
        return cls(
            expected,
            counts[SlotStatus.HOUR],
            counts[SlotStatus.MINUTE],
            counts[SlotStatus.PARTIAL],
            counts[SlotStatus.MISSING] + expected - len(slots),
            counts[SlotStatus.FUTURE],
            provisional,
            records,
        )

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(
            self.expected_hours + other.expected_hours,
            self.hour_rows + other.hour_rows,
            self.minute_hours + other.minute_hours,
            self.partial_hours + other.partial_hours,
            self.missing_hours + other.missing_hours,
            self.future_hours + other.future_hours,
            self.provisional_hours + other.provisional_hours,
            self.records + other.records,
        )

    @property
    def complete(self) -> bool:
        """Every hour backed by complete, final data."""
        return (
            self.hour_rows + self.minute_hours == self.expected_hours
            and self.provisional_hours == 0
        )

    @property
    def has_data(self) -> bool:
        return self.hour_rows + self.minute_hours + self.partial_hours > 0

    def problems(self) -> list[str]:
        """What makes the period incomplete, in words (empty when complete)."""
        out: list[str] = []
        if self.missing_hours:
            out.append(f"{self.missing_hours} h without data")
        if self.partial_hours:
            out.append(f"{self.partial_hours} h with minutes missing")
        if self.future_hours:
            out.append(f"{self.future_hours} h not over yet")
        if self.provisional_hours:
            out.append(f"{self.provisional_hours} h not final")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "expected_hours": self.expected_hours,
            "hour_rows": self.hour_rows,
            "minute_hours": self.minute_hours,
            "partial_hours": self.partial_hours,
            "missing_hours": self.missing_hours,
            "future_hours": self.future_hours,
            "provisional_hours": self.provisional_hours,
            "records": self.records,
            "problems": self.problems(),
        }


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """Every UTC hour of ``[start, end)``, with notes on the data's quality."""

    start: datetime
    end: datetime
    slots: tuple[HourSlot, ...]
    notes: tuple[str, ...] = ()


def slots_between(series: HourlySeries, start: datetime, end: datetime) -> Sequence[HourSlot]:
    """The slots of ``series`` that start in ``[start, end)``."""
    slots = series.slots
    i = bisect_left(slots, start, key=lambda s: s.start)
    j = bisect_left(slots, end, lo=i, key=lambda s: s.start)
    return slots[i:j]


def utc_hours(start: datetime, end: datetime) -> Iterator[datetime]:
    """The hour starts from ``start`` (on the hour grid) up to, not including, ``end``."""
    at = start
    while at < end:
        yield at
        at += HOUR


def _spans_of(hours: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hours as contiguous ``[start, end)`` spans."""
    spans: list[tuple[datetime, datetime]] = []
    for h in hours:
        if spans and spans[-1][1] == h:
            spans[-1] = (spans[-1][0], h + HOUR)
        else:
            spans.append((h, h + HOUR))
    return spans


def _hours_in(windows: Sequence[tuple[datetime, datetime]]) -> set[datetime]:
    """The UTC hour starts within the windows (whole days, so already on the hour grid)."""
    return {h for a, b in windows for h in utc_hours(a, b)}


def merge_hours(
    start: datetime,
    end: datetime,
    hour_rows: Iterable[EnergyBucket],
    minute_rows: Iterable[EnergyBucket],
    *,
    now: datetime,
    devices: int = 1,
    provisional: Sequence[tuple[datetime, datetime]] = (),
) -> tuple[HourSlot, ...]:
    """One slot per UTC hour of ``[start, end)``: the hourly row, else the hour's minute sum.

    ``minute_rows`` are minute records summed per UTC hour. An hour is complete with one hourly
    record, or 60 minute records, per device (``devices`` > 1 for site-wide sums over several
    zappis); an incomplete hour is still counted, as ``PARTIAL``. Hours in a ``provisional``
    window (a day not final yet) are flagged.
    """
    by_hour = {r.start: r for r in hour_rows if r.records > 0}
    by_minute = {r.start: r for r in minute_rows if r.records > 0}
    full_minutes = MINUTES_PER_HOUR * devices
    not_final = _hours_in(provisional)
    slots: list[HourSlot] = []
    for at in utc_hours(start, end):
        h = by_hour.get(at)
        m = by_minute.get(at)
        row: EnergyBucket | None
        if h is not None and h.records >= devices:
            row, status = h, SlotStatus.HOUR
        elif m is not None and m.records >= full_minutes:
            row, status = m, SlotStatus.MINUTE
        elif h is not None or m is not None:
            row = h if h is not None else m
            status = SlotStatus.PARTIAL
        else:
            status = SlotStatus.FUTURE if at + HOUR > now else SlotStatus.MISSING
            slots.append(HourSlot(at, Energy(), status, 0))
            continue
        assert row is not None  # one of h and m is set on this branch
        slots.append(HourSlot(at, row.energy, status, row.records, at in not_final))
    return tuple(slots)


def _sync_notes_and_windows(
    store: Store, serial: str | None, first_day: date, last_day: date
) -> tuple[list[tuple[datetime, datetime]], list[str]]:
    """Windows of days that are not final yet, and notes on failed or imperfect fetches."""
    serials = [serial] if serial is not None else [d.serial for d in store.devices()]
    windows: list[tuple[datetime, datetime]] = []
    notes: list[str] = []
    since, until = first_day - timedelta(days=1), last_day + timedelta(days=1)
    for sn in serials:
        for resolution in (Resolution.HOUR, Resolution.MINUTE):
            states = store.sync_states(sn, resolution, since, until)
            suspect = dup = 0
            for day in sorted(states):
                st = states[day]
                suspect += st.suspect
                dup += st.duplicates_dropped
                if not st.final:
                    windows.append((st.day_start, local_day_window(st.day, st.tz)[1]))
                if st.error and first_day <= day <= last_day:
                    notes.append(
                        f"{sn} {resolution.value} data of {day}: last fetch failed ({st.error})"
                    )
            if suspect:
                notes.append(
                    f"{sn}: {suspect} {resolution.value} record(s) with implausible voltage or "
                    "frequency (kept; energies are used as they are)"
                )
            if dup:
                notes.append(f"{sn}: {dup} duplicate {resolution.value} record(s) dropped on fetch")
    return windows, notes


def hourly_series(
    store: Store,
    first_day: date,
    last_day: date,
    tz: str,
    *,
    serial: str | None = None,
    now: datetime | None = None,
) -> HourlySeries:
    """The hours of the local days ``first_day`` to ``last_day`` (both included), from the store.

    Hourly data is read first; minute data is read only where hours are missing, summed per hour
    in the database. With ``serial=None`` the site's grid and generation figures are counted once
    (the store's ``iter_energy`` takes them from one device).
    """
    now = now or datetime.now(UTC)
    start = local_day_window(first_day, tz, Resolution.HOUR)[0]
    end = local_day_window(last_day, tz, Resolution.HOUR)[1]
    hour_rows = list(store.iter_energy(serial, Resolution.HOUR, start, end, 3600))
    devices = 1
    if serial is None and hour_rows:
        devices = max(r.records for r in hour_rows)
    have = {r.start for r in hour_rows if r.records >= devices}
    gaps = [h for h in utc_hours(start, min(end, now)) if h not in have]
    minute_rows: list[EnergyBucket] = []
    spans = _spans_of(gaps)
    if len(spans) > _MAX_FALLBACK_QUERIES:
        spans = [(spans[0][0], spans[-1][1])]
    for a, b in spans:
        minute_rows.extend(store.iter_energy(serial, Resolution.MINUTE, a, b, 3600))
    if serial is None and minute_rows:
        best = max(r.records for r in minute_rows)
        devices = max(devices, -(-best // MINUTES_PER_HOUR))
    windows, notes = _sync_notes_and_windows(store, serial, first_day, last_day)
    slots = merge_hours(
        start, end, hour_rows, minute_rows, now=now, devices=devices, provisional=windows
    )
    return HourlySeries(start, end, slots, tuple(notes))
