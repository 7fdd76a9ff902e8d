"""Comparing the zappi's history with the household's meters, hour by hour.

Both sides come from the store only (never the network): the zappi's energy per UTC hour from
its hourly records (or the sum of its minute records where an hour record is missing), the
meters' energy per UTC hour from their totalisers (:func:`zapledger.meters.channel_hours`).
Each hour of each pair is then compared; days, months and the summaries are built from the
hours. Differences are ``meter - zappi``; relative differences are relative to the zappi.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ..localtime import is_settled, local_day_window, parse_tz, to_local
from ..meters import (
    DEFAULT_MAX_BRACKET_S,
    MeterHour,
    channel_hours,
    hour_starts,
)
from ..models import Energy, MeterReading, Period, Resolution, joules_to_kwh
from ..ranges import resolve_range
from ..store import Store
from ._results import (
    PAIRS,
    REASON_METER_GAP,
    REASON_METER_RESET,
    REASON_NOT_FINAL,
    REASON_ZAPPI_MISSING,
    Comparison,
    Pair,
    PairSummary,
    ReconcileReport,
)

__all__ = ["DEFAULT_TOLERANCE_PCT", "MIN_FLAG_KWH", "reconcile", "reconcile_summary"]

DEFAULT_TOLERANCE_PCT = 2.0
#: Differences smaller than this are never flagged (a meter counts whole Wh).
MIN_FLAG_KWH = 0.01
#: Days whose compared zappi energy is below this don't enter the drift estimate.
_MIN_DRIFT_DAY_KWH = 0.2
_MONTH_DAYS = 30.4375
_HOUR_S = 3600.0
_EPS = 1e-6
_MINUTES_PER_HOUR = 60


@dataclass(slots=True)
class _ZappiHour:
    energy: Energy | None
    complete: bool
    final: bool


@dataclass(slots=True)
class _Hour:
    """One hour of one pair, before it becomes a :class:`Comparison`."""

    start: datetime
    zappi_j: float | None
    meter: MeterHour | None
    zappi_reasons: set[str] = field(default_factory=set)


def reconcile(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
    period: Period | str = Period.DAY,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    min_flag_kwh: float = MIN_FLAG_KWH,
    meter_ids: Sequence[str] | None = None,
    now: datetime | None = None,
    max_bracket_s: float = DEFAULT_MAX_BRACKET_S,
    worst: int = 5,
) -> ReconcileReport:
    """Compare zappi and meters over the local days ``first_day``..``last_day`` (inclusive).

    ``serial=None`` takes every zappi together (see :meth:`Store.iter_energy`); ``meter_ids``
    limits the meters used (default: all). Pairs whose meter channels have no readings are left
    out. Hours not comparable (see the ``REASON_*`` constants) never enter the summaries.
    """
    granularity = Period(period)
    zone = parse_tz(tz)
    first_day, last_day = resolve_range(store, first_day, last_day, tz, serial=serial, now=now)
    ws = local_day_window(first_day, zone, Resolution.HOUR)[0]
    we = local_day_window(last_day, zone, Resolution.HOUR)[1]
    hours = hour_starts(ws, we)
    now = now or datetime.now(UTC)

    zappi = _zappi_hours(store, serial, ws, we, hours, zone.key, first_day, last_day, now)
    readings = _meter_readings(store, ws, we, meter_ids)
    by_channel = {
        ch: channel_hours(rs, ws, we, max_bracket_s=max_bracket_s) for ch, rs in readings.items()
    }

    rows: list[Comparison] = []
    days: list[Comparison] = []
    summaries: list[PairSummary] = []
    for pair in PAIRS:
        present = [ch for ch in pair.channels if ch in by_channel]
        if not present:
            continue
        pair_hours = [
            _pair_hour(pair, h, zappi[h], [by_channel[ch] for ch in present]) for h in hours
        ]
        hourly = [
            _compare(
                pair,
                [ph],
                _label(ph.start, Period.HOUR, zone.key),
                tolerance_pct,
                min_flag_kwh,
            )
            for ph in pair_hours
        ]
        daily = _group(pair, pair_hours, Period.DAY, zone.key, tolerance_pct, min_flag_kwh)
        if granularity is Period.HOUR:
            rows.extend(hourly)
        elif granularity is Period.DAY:
            rows.extend(daily)
        else:
            rows.extend(
                _group(pair, pair_hours, granularity, zone.key, tolerance_pct, min_flag_kwh)
            )
        days.extend(daily)
        summaries.append(_summarise(pair, hourly, rows, zone.key, worst))
    used = sorted({r.meter_id for rs in readings.values() for r in rs})
    return ReconcileReport(
        serial=serial,
        tz=zone.key,
        first_day=first_day,
        last_day=last_day,
        period=granularity,
        tolerance_pct=tolerance_pct,
        rows=tuple(rows),
        days=tuple(days),
        summaries=tuple(summaries),
        meter_ids=tuple(used),
    )


def reconcile_summary(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
) -> ReconcileReport:
    """The reconciliation of the days by day, as the demo and the HTML report show it."""
    return reconcile(store, first_day, last_day, tz, serial=serial, period=Period.DAY)


# --- the zappi side -------------------------------------------------------------------------


def _zappi_hours(
    store: Store,
    serial: str | None,
    ws: datetime,
    we: datetime,
    hours: list[datetime],
    tz: str,
    first_day: date,
    last_day: date,
    now: datetime,
) -> dict[datetime, _ZappiHour]:
    by_hour = {r.start: r for r in store.iter_energy(serial, Resolution.HOUR, ws, we)}
    by_minutes = {r.start: r for r in store.iter_energy(serial, Resolution.MINUTE, ws, we, 3600)}
    final = {
        res: _final_days(store, serial, res, first_day - timedelta(days=1), last_day)
        for res in Resolution
    }
    out: dict[datetime, _ZappiHour] = {}
    for h in hours:
        day = to_local(h, tz).date()
        if h in by_hour:
            # The cloud's hour record lacks the energy of minutes it lost; when that hour's
            # minutes are stored too, their count tells.
            minutes = by_minutes.get(h)
            row, res = by_hour[h], Resolution.HOUR
            complete = minutes is None or minutes.records >= _MINUTES_PER_HOUR
        elif h in by_minutes:
            row, res = by_minutes[h], Resolution.MINUTE
            complete = row.records >= _MINUTES_PER_HOUR
        else:
            row, res, complete = None, Resolution.HOUR, False
        known = final[res].get(day)
        is_final = known if known is not None else is_settled(day, tz, now)
        out[h] = _ZappiHour(None if row is None else row.energy, complete, is_final)
    return out


def _final_days(
    store: Store, serial: str | None, resolution: Resolution, since: date, until: date
) -> dict[date, bool]:
    """Whether each synced local day is final (all zappis' days, when serial is None)."""
    serials = [serial] if serial is not None else store.zappi_serials()
    final: dict[date, bool] = {}
    for sn in serials:
        for day, state in store.sync_states(sn, resolution, since, until).items():
            final[day] = final.get(day, True) and state.final
    return final


# --- the meter side -------------------------------------------------------------------------


def _meter_readings(
    store: Store, ws: datetime, we: datetime, meter_ids: Sequence[str] | None
) -> dict[str, list[MeterReading]]:
    """Readings per channel, with a day's margin so the first and last boundaries interpolate."""
    wanted = {ch for pair in PAIRS for ch in pair.channels}
    margin = timedelta(days=1)
    out: dict[str, list[MeterReading]] = {}
    for channel in sorted(wanted):
        found: list[MeterReading] = []
        ids: Sequence[str | None] = list(meter_ids) if meter_ids else [None]
        for meter_id in ids:
            found.extend(store.meter_readings(meter_id, channel, ws - margin, we + margin))
        if found:
            out[channel] = found
    return out


def _combine(parts: Sequence[MeterHour | None], start: datetime) -> MeterHour | None:
    """One pair's meter hour from its channels (import T1 + T2): complete only if all are."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    full = len(present) == len(parts)
    return MeterHour(
        start=start,
        energy_j=sum(p.energy_j for p in present),
        covered_s=min(p.covered_s for p in present) if full else 0.0,
        start_exact=full and all(p.start_exact for p in present),
        end_exact=full and all(p.end_exact for p in present),
        breaks=max(p.breaks for p in present),
    )


# --- comparing ------------------------------------------------------------------------------


def _pair_hour(
    pair: Pair, h: datetime, zappi: _ZappiHour, channels: Iterable[dict[datetime, MeterHour]]
) -> _Hour:
    meter = _combine([table.get(h) for table in channels], h)
    reasons: set[str] = set()
    if not zappi.complete:
        reasons.add(REASON_ZAPPI_MISSING)
    if not zappi.final:
        reasons.add(REASON_NOT_FINAL)
    zappi_j = None if zappi.energy is None else float(pair.zappi_j(zappi.energy))
    return _Hour(h, zappi_j, meter, reasons)


def _meter_reasons(hours: Sequence[_Hour]) -> tuple[set[str], bool]:
    reasons: set[str] = set()
    for ph in hours:
        if ph.meter is None or ph.meter.covered_s < _HOUR_S - _EPS:
            reasons.add(REASON_METER_GAP)
        if ph.meter is not None and ph.meter.breaks:
            reasons.add(REASON_METER_RESET)
    first, last = hours[0].meter, hours[-1].meter
    estimated = first is None or last is None or not (first.start_exact and last.end_exact)
    if estimated:
        reasons.add(REASON_METER_GAP)
    return reasons, estimated


def _compare(
    pair: Pair, hours: Sequence[_Hour], label: str, tolerance_pct: float, min_flag_kwh: float
) -> Comparison:
    """A period (consecutive hours) of one pair.

    Inside a period only its two ends need exact meter values: interpolation errors at the
    boundaries between its hours cancel, so a day survives a short meter gap inside it.
    """
    zappi_values = [ph.zappi_j for ph in hours if ph.zappi_j is not None]
    meter_values = [ph.meter.energy_j for ph in hours if ph.meter is not None]
    zappi = joules_to_kwh(sum(zappi_values)) if zappi_values else None
    meter = joules_to_kwh(sum(meter_values)) if meter_values else None
    reasons, estimated = _meter_reasons(hours)
    for ph in hours:
        reasons |= ph.zappi_reasons
    diff = rel = None
    flagged = False
    if zappi is not None and meter is not None:
        diff = meter - zappi
        rel = diff / zappi * 100 if zappi > _EPS else None
        flagged = abs(diff) >= min_flag_kwh and (rel is None or abs(rel) > tolerance_pct)
    return Comparison(
        pair=pair.name,
        period=label,
        start=hours[0].start,
        end=hours[-1].start + timedelta(hours=1),
        hours=len(hours),
        zappi_kwh=zappi,
        meter_kwh=meter,
        difference_kwh=diff,
        relative_pct=rel,
        flagged=flagged,
        estimated=estimated,
        reasons=tuple(sorted(reasons)),
    )


def _label(h: datetime, granularity: Period, tz: str) -> str:
    local = to_local(h, tz)
    if granularity is Period.HOUR:
        return local.isoformat(timespec="minutes")
    if granularity is Period.DAY:
        return local.date().isoformat()
    if granularity is Period.MONTH:
        return f"{local.year:04d}-{local.month:02d}"
    return f"{local.year:04d}"


def _group(
    pair: Pair,
    hours: Sequence[_Hour],
    granularity: Period,
    tz: str,
    tolerance_pct: float,
    min_flag_kwh: float,
) -> list[Comparison]:
    groups: dict[str, list[_Hour]] = defaultdict(list)
    for ph in hours:
        groups[_label(ph.start, granularity, tz)].append(ph)
    return [
        _compare(pair, group, label, tolerance_pct, min_flag_kwh) for label, group in groups.items()
    ]


def _summarise(
    pair: Pair, hourly: Sequence[Comparison], rows: Sequence[Comparison], tz: str, worst: int
) -> PairSummary:
    compared = [c for c in hourly if c.comparable]
    zappi = sum(c.zappi_kwh or 0.0 for c in compared)
    meter = sum(c.meter_kwh or 0.0 for c in compared)
    excluded: Counter[str] = Counter()
    for c in hourly:
        excluded.update(c.reasons)
    return PairSummary(
        pair=pair.name,
        zappi_label=pair.zappi_label,
        meter_label=pair.meter_label,
        hours=len(hourly),
        hours_compared=len(compared),
        zappi_kwh=zappi,
        meter_kwh=meter,
        bias_pct=(meter / zappi - 1) * 100 if zappi > _EPS else None,
        mean_abs_difference_kwh=(
            sum(abs(c.difference_kwh or 0.0) for c in compared) / len(compared)
            if compared
            else None
        ),
        drift_pct_per_month=_drift(compared, tz),
        flagged_periods=sum(1 for r in rows if r.pair == pair.name and r.flagged),
        excluded=dict(excluded),
        worst_hours=tuple(
            sorted(compared, key=lambda c: abs(c.difference_kwh or 0.0), reverse=True)[:worst]
        ),
    )


def _drift(compared: Sequence[Comparison], tz: str) -> float | None:
    """Least-squares slope of the daily relative difference, in percentage points a month."""
    sums: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for c in compared:
        day = to_local(c.start, tz).date()
        acc = sums[day]
        acc[0] += c.zappi_kwh or 0.0
        acc[1] += c.meter_kwh or 0.0
        acc[2] += c.start.timestamp() * (c.zappi_kwh or 0.0)  # energy-weighted time of day
    points = [
        (acc[2] / acc[0] / 86400 / _MONTH_DAYS, (acc[1] / acc[0] - 1) * 100)
        for acc in sums.values()
        if acc[0] >= _MIN_DRIFT_DAY_KWH
    ]
    if len(points) < 3:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx <= 0:  # pragma: no cover - days are distinct, so their times differ
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
