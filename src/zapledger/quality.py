"""The data-quality table: what the stored history lacks or should not be trusted for, per day.

Reads the store only (never the network). Per local day and device: minutes and hours missing,
duplicates the decoder dropped, records whose voltage (``v1``) or frequency (``frq``) is
implausible, hours whose total disagrees with the sum of their minutes, and days that failed to
sync or are not final yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .localtime import check_range, local_day_window, local_days, parse_tz, to_local
from .models import ENERGY_FIELDS, EnergyBucket, HistoryRecord, Resolution
from .store import Store, SyncState

__all__ = [
    "DEFAULT_TOLERANCE_J",
    "DEFAULT_TOLERANCE_RATIO",
    "DayQuality",
    "HourMismatch",
    "QualityReport",
    "compare_hours",
    "data_quality",
]

#: An hour disagrees with its minutes when a field differs by more than this many joules...
#: The cloud's hour record is the sum of the same integer joules, so by default any difference
#: counts; raise it if a source rounds.
DEFAULT_TOLERANCE_J = 0
#: ...and by more than this fraction of the larger of the two.
DEFAULT_TOLERANCE_RATIO = 0.0
_MINUTES_PER_HOUR = 60


@dataclass(frozen=True, slots=True)
class HourMismatch:
    """An hour whose record disagrees with the sum of its 60 minute records."""

    start: datetime
    #: field -> (hour record, minute sum), joules; only the fields that disagree
    fields: dict[str, tuple[int, int]]

    @property
    def worst_diff_j(self) -> int:
        return max(abs(h - m) for h, m in self.fields.values())


@dataclass(frozen=True, slots=True)
class DayQuality:
    """The quality of one local day of one device."""

    serial: str
    day: date
    minute: SyncState | None
    hour: SyncState | None
    voltage_suspect: int = 0
    frequency_suspect: int = 0
    #: hours with a full set of 60 minutes and an hour record, i.e. the ones that can be compared
    hours_compared: int = 0
    mismatches: tuple[HourMismatch, ...] = ()

    @property
    def missing_minutes(self) -> int | None:
        """None when the minutes of this day were never stored."""
        return _missing(self.minute)

    @property
    def missing_hours(self) -> int | None:
        return _missing(self.hour)

    @property
    def duplicates_dropped(self) -> int:
        return sum(s.duplicates_dropped for s in (self.minute, self.hour) if s is not None)

    @property
    def suspect(self) -> int:
        """Minute records with an implausible ``v1`` or ``frq``."""
        return 0 if self.minute is None else self.minute.suspect

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(s.error for s in (self.minute, self.hour) if s is not None and s.error)

    @property
    def final(self) -> bool:
        return all(s is not None and s.final for s in (self.minute, self.hour))

    @property
    def problems(self) -> tuple[str, ...]:
        """Short words for what is wrong with the day (empty when nothing is)."""
        out: list[str] = []
        if self.missing_minutes is None and self.missing_hours is None:
            out.append("not synced")
        if self.missing_minutes:
            out.append("missing minutes")
        if self.missing_hours:
            out.append("missing hours")
        if self.duplicates_dropped:
            out.append("duplicates")
        if self.suspect:
            out.append("suspect v1/frq")
        if self.mismatches:
            out.append("hours disagree")
        if self.errors:
            out.append("failed")
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "serial": self.serial,
            "minute_records": _count(self.minute, "records"),
            "minute_expected": _count(self.minute, "expected"),
            "missing_minutes": self.missing_minutes,
            "hour_records": _count(self.hour, "records"),
            "hour_expected": _count(self.hour, "expected"),
            "missing_hours": self.missing_hours,
            "duplicates_dropped": self.duplicates_dropped,
            "suspect": self.suspect,
            "voltage_suspect": self.voltage_suspect,
            "frequency_suspect": self.frequency_suspect,
            "hours_compared": self.hours_compared,
            "hours_disagreeing": [
                {"start": m.start.isoformat(), "fields": m.fields} for m in self.mismatches
            ],
            "final": self.final,
            "errors": list(self.errors),
            "problems": list(self.problems),
        }


def _count(state: SyncState | None, name: str) -> int | None:
    return None if state is None else int(getattr(state, name))


def _missing(state: SyncState | None) -> int | None:
    if state is None or state.fetched_at is None:
        return None
    return state.missing


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Days in calendar order (all of them, good ones included), per device."""

    tz: str
    first_day: date | None
    last_day: date | None
    days: tuple[DayQuality, ...] = field(default=())

    def as_dict(self, *, problems_only: bool = True) -> dict[str, Any]:
        """Totals and the days (only those with problems unless ``problems_only`` is false)."""
        days = self.problem_days if problems_only else self.days
        return {
            "tz": self.tz,
            "first_day": None if self.first_day is None else self.first_day.isoformat(),
            "last_day": None if self.last_day is None else self.last_day.isoformat(),
            "totals": self.totals,
            "days": [d.as_dict() for d in days],
        }

    @property
    def problem_days(self) -> tuple[DayQuality, ...]:
        return tuple(d for d in self.days if d.problems)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "days": len(self.days),
            "problem_days": len(self.problem_days),
            "missing_minutes": sum(d.missing_minutes or 0 for d in self.days),
            "missing_hours": sum(d.missing_hours or 0 for d in self.days),
            "duplicates_dropped": sum(d.duplicates_dropped for d in self.days),
            "suspect": sum(d.suspect for d in self.days),
            "hours_compared": sum(d.hours_compared for d in self.days),
            "hours_disagreeing": sum(len(d.mismatches) for d in self.days),
            "failed_days": sum(1 for d in self.days if d.errors),
        }


def compare_hours(
    hours: Iterable[HistoryRecord],
    minute_sums: Iterable[EnergyBucket],
    *,
    tolerance_j: int = DEFAULT_TOLERANCE_J,
    tolerance_ratio: float = DEFAULT_TOLERANCE_RATIO,
) -> tuple[int, list[HourMismatch]]:
    """Compare hour records with the per-hour sums of minutes; (hours compared, mismatches).

    Only hours with all 60 minutes are compared: a missing minute is reported as such, not as a
    disagreement.
    """
    sums = {row.start: row for row in minute_sums if row.records == _MINUTES_PER_HOUR}
    compared = 0
    mismatches: list[HourMismatch] = []
    for record in hours:
        row = sums.get(record.timestamp)
        if row is None:
            continue
        compared += 1
        bad: dict[str, tuple[int, int]] = {}
        hour_energy, minutes_energy = record.energy.joules(), row.energy.joules()
        for name in ENERGY_FIELDS:  # every stored energy is compared
            hour_j, minutes_j = hour_energy[name], minutes_energy[name]
            diff = abs(hour_j - minutes_j)
            if diff > tolerance_j and diff > tolerance_ratio * max(abs(hour_j), abs(minutes_j)):
                bad[name] = (hour_j, minutes_j)
        if bad:
            mismatches.append(HourMismatch(record.timestamp, bad))
    return compared, mismatches


_EARLIEST = date(1970, 1, 1)
_LATEST = date(9999, 12, 31)


def data_quality(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
    tolerance_j: int = DEFAULT_TOLERANCE_J,
    tolerance_ratio: float = DEFAULT_TOLERANCE_RATIO,
) -> QualityReport:
    """The quality of every local day of ``tz`` from ``first_day`` to ``last_day`` (inclusive).

    ``serial=None`` takes every zappi in the store; an open end of the range reaches the first
    or last day that has a sync state.
    """
    parse_tz(tz)
    if first_day is not None and last_day is not None:
        check_range(first_day, last_day)
    since, until = first_day, last_day
    serials = [serial] if serial is not None else store.zappi_serials()
    days: list[DayQuality] = []
    for serial in serials:
        days += _device_days(
            store,
            serial,
            tz,
            since,
            until,
            tolerance_j=tolerance_j,
            tolerance_ratio=tolerance_ratio,
        )
    days.sort(key=lambda d: (d.day, d.serial))
    return QualityReport(tz, first_day, last_day, tuple(days))


def _device_days(
    store: Store,
    serial: str,
    tz: str,
    since: date | None,
    until: date | None,
    tolerance_j: int,
    tolerance_ratio: float,
) -> list[DayQuality]:
    lo, hi = since or _EARLIEST, until or _LATEST
    minute = {
        d: s for d, s in store.sync_states(serial, Resolution.MINUTE, lo, hi).items() if s.tz == tz
    }
    hour = {
        d: s for d, s in store.sync_states(serial, Resolution.HOUR, lo, hi).items() if s.tz == tz
    }
    known = sorted({*minute, *hour})
    if not known:
        return []
    first = since or known[0]
    last = until or known[-1]
    start = local_day_window(first, tz)[0]
    end = local_day_window(last, tz)[1]
    sums = store.iter_energy(serial, Resolution.MINUTE, start, end, 3600)
    hours_by_day: dict[date, list[HistoryRecord]] = defaultdict(list)
    for record in store.history(serial, Resolution.HOUR, start, end):
        hours_by_day[to_local(record.timestamp, tz).date()].append(record)
    sums_by_day: dict[date, list[EnergyBucket]] = defaultdict(list)
    for row in sums:
        sums_by_day[to_local(row.start, tz).date()].append(row)
    out: list[DayQuality] = []
    for day in local_days(first, last):
        m, h = minute.get(day), hour.get(day)
        compared, mismatches = compare_hours(
            hours_by_day.get(day, ()),
            sums_by_day.get(day, ()),
            tolerance_j=tolerance_j,
            tolerance_ratio=tolerance_ratio,
        )
        volts = freq = 0
        if m is not None and m.suspect:
            day_start, day_end = local_day_window(day, tz)
            for record in store.history(serial, Resolution.MINUTE, day_start, day_end):
                volts += record.voltage_suspect
                freq += record.frequency_suspect
        out.append(DayQuality(serial, day, m, h, volts, freq, compared, tuple(mismatches)))
    return out
