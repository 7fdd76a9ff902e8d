"""The energy balance: the hourly series summed into local hours, days, months and years.

Every figure is built from one series of UTC hours (``_series.hourly_series``). Local periods are
spans of whole UTC hours (``history.local_day_window(day, tz, HOUR)``): a local day holds 23, 24
or 25 of them, and consecutive periods partition the series exactly. The formulas are written down
in ``docs/formulas.md``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..localtime import local_day_window, to_local
from ..models import Energy, Period, Resolution
from ..ranges import resolve_range
from ..store import Store
from ._series import HOUR, Coverage, HourlySeries, hourly_series, utc_hours

if TYPE_CHECKING:
    from ..tariffs import Tariffs
    from ._cost import CostReport

__all__ = [
    "BalanceReport",
    "PeriodBalance",
    "aggregate",
    "balance",
    "period_spans",
]


@dataclass(frozen=True, slots=True)
class PeriodBalance:
    """The balance of one local period ``[start, end)`` (UTC instants)."""

    period: Period
    start: datetime
    end: datetime
    label: str
    energy: Energy
    coverage: Coverage

    def as_dict(self, tz: str) -> dict[str, Any]:
        return {
            "period": self.period.value,
            "label": self.label,
            "start_utc": _iso(self.start),
            "end_utc": _iso(self.end),
            "start_local": to_local(self.start, tz).isoformat(),
            "end_local": to_local(self.end, tz).isoformat(),
            **self.energy.as_dict(),
            **self.coverage.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class BalanceReport:
    """The balance of each period of a range of local days, with the total and quality notes."""

    period: Period
    tz: str
    first_day: date
    last_day: date
    serial: str | None
    rows: tuple[PeriodBalance, ...]
    total: PeriodBalance
    notes: tuple[str, ...] = field(default=())
    #: the cost layer (report/_cost.py), one row per period, when tariffs are configured
    cost: CostReport | None = None

    @property
    def incomplete(self) -> list[PeriodBalance]:
        return [r for r in self.rows if not r.coverage.complete]

    def as_dict(self) -> dict[str, Any]:
        rows = [r.as_dict(self.tz) for r in self.rows]
        total = self.total.as_dict(self.tz)
        notes = list(self.notes)
        if self.cost is not None:
            for row, cost in zip(rows, self.cost.rows, strict=True):
                row.update(cost.as_dict())
            total.update(self.cost.total.as_dict())
            notes += self.cost.notes
        return {
            "period": self.period.value,
            "tz": self.tz,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "serial": self.serial,
            "complete": self.total.coverage.complete,
            "notes": notes,
            "rows": rows,
            "total": total,
        }


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def period_spans(
    period: Period, first_day: date, last_day: date, tz: str
) -> list[tuple[datetime, datetime, str]]:
    """``(start, end, label)`` of every local period of the range, clipped to the range."""
    if last_day < first_day:
        return []
    days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    windows = [local_day_window(d, tz, Resolution.HOUR) for d in days]
    if period is Period.HOUR:
        spans: list[tuple[datetime, datetime, str]] = []
        for at in utc_hours(windows[0][0], windows[-1][1]):
            local = to_local(at, tz)
            spans.append((at, at + HOUR, local.strftime("%Y-%m-%d %H:%M %Z")))
        return spans
    if period is Period.DAY:
        return [(w[0], w[1], d.isoformat()) for d, w in zip(days, windows, strict=True)]
    monthly = period is Period.MONTH
    grouped: list[tuple[datetime, datetime, str]] = []
    for d, (a, b) in zip(days, windows, strict=True):
        label = f"{d.year:04d}-{d.month:02d}" if monthly else f"{d.year:04d}"
        if grouped and grouped[-1][2] == label:
            grouped[-1] = (grouped[-1][0], b, label)
        else:
            grouped.append((a, b, label))
    return grouped


def aggregate(
    series: HourlySeries,
    period: Period,
    first_day: date,
    last_day: date,
    tz: str,
    *,
    serial: str | None = None,
) -> BalanceReport:
    """Group the hours of ``series`` into local periods and total them."""
    spans = period_spans(period, first_day, last_day, tz)
    slots = series.slots
    rows: list[PeriodBalance] = []
    n = len(slots)
    i = bisect_left(slots, spans[0][0], key=lambda s: s.start) if spans else n
    for a, b, label in spans:
        while i < n and slots[i].start < a:
            i += 1
        j = i
        while j < n and slots[j].start < b:
            j += 1
        chunk = slots[i:j]
        rows.append(
            PeriodBalance(
                period,
                a,
                b,
                label,
                Energy.total(s.energy for s in chunk),  # zero where nothing is stored
                Coverage.of_slots(chunk, expected_hours=(b - a) // HOUR),
            )
        )
        i = j
    total_cov = Coverage()
    for r in rows:
        total_cov = total_cov + r.coverage
    total = PeriodBalance(
        period,
        rows[0].start if rows else series.start,
        rows[-1].end if rows else series.end,
        "Total",
        Energy.total(r.energy for r in rows),
        total_cov,
    )
    return BalanceReport(period, tz, first_day, last_day, serial, tuple(rows), total, series.notes)


def balance(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    period: Period | str = Period.DAY,
    serial: str | None = None,
    now: datetime | None = None,
    tariffs: Tariffs | None = None,
) -> BalanceReport:
    """The balance per ``period`` of the local days ``first_day``..``last_day`` (both included).

    ``None`` opens the range as :func:`zapledger.ranges.resolve_range` says: up to today, from
    the period's usual window but not before the first stored record. This is what
    ``zapledger report`` prints. With ``tariffs``, each period also carries its cost
    (:mod:`._cost`). Reads the store only.
    """
    period = Period(period)
    first_day, last_day = resolve_range(
        store, first_day, last_day, tz, serial=serial, period=period, now=now
    )
    series = hourly_series(store, first_day, last_day, tz, serial=serial, now=now)
    report = aggregate(series, period, first_day, last_day, tz, serial=serial)
    if tariffs is None:
        return report
    from ._cost import cost_report

    spans = [(r.start, r.end) for r in report.rows]
    cost = cost_report(store, series, spans, period, tz, tariffs, serial=serial)
    return replace(report, cost=cost)
