"""Totaliser readings to energy per UTC hour.

A totaliser only grows, so the energy of an hour is the totaliser at its end minus the
totaliser at its start. Readings rarely fall on the hour: the value at a boundary is
interpolated linearly between the readings around it, and is *estimated* when those are more
than ``max_bracket_s`` apart. Missing readings inside an hour lose nothing (the totaliser kept
counting); only where the energy is attributed across hours becomes uncertain.

A totaliser that goes backwards (meter replaced or reset), a step that would mean an absurd power
(a corrupt reading), or another meter id starts a new *segment*. Energy is never taken across
segments: the time between them counts as not covered, never as a negative hour.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..models import MeterReading

__all__ = [
    "DEFAULT_MAX_BRACKET_S",
    "DEFAULT_MAX_POWER_W",
    "MeterHour",
    "Segment",
    "channel_hours",
    "hour_starts",
    "hourly_energy",
    "split_segments",
]

#: A step implying more than this mean power is a corrupt reading, not energy (a house with a
#: 3 x 63 A connection draws at most ~45 kW).
DEFAULT_MAX_POWER_W = 100_000.0
#: Boundary values interpolated between readings further apart than this are estimated.
DEFAULT_MAX_BRACKET_S = 300.0
_HOUR_S = 3600
_EPS_S = 1e-6


@dataclass(frozen=True, slots=True)
class Segment:
    """Readings of one meter and channel between two discontinuities, in strict time order."""

    meter_id: str
    channel: str
    times: tuple[float, ...]  # epoch seconds
    totals: tuple[int, ...]  # joules
    ended_by: str | None = None  # "reset", "jump" or None (last segment)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.times[0], UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self.times[-1], UTC)

    @property
    def energy_j(self) -> int:
        return self.totals[-1] - self.totals[0]

    def value_at(self, t: float) -> tuple[float, float]:
        """The totaliser at ``t`` (inside the segment), and the span of the readings used (0 if
        one was taken exactly at ``t``)."""
        i = bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            return float(self.totals[i]), 0.0
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.totals[i - 1], self.totals[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0), t1 - t0


def split_segments(
    readings: Iterable[MeterReading], *, max_power_w: float = DEFAULT_MAX_POWER_W
) -> list[Segment]:
    """Segments of every (meter id, channel) in the readings, in time order within each."""
    series: dict[tuple[str, str], dict[float, int]] = defaultdict(dict)
    for r in readings:
        series[(r.meter_id, r.channel)][r.timestamp.timestamp()] = r.total_j
    segments: list[Segment] = []
    for (meter_id, channel), points in sorted(series.items()):
        times: list[float] = []
        totals: list[int] = []
        for t in sorted(points):
            v = points[t]
            if times:
                step_j = v - totals[-1]
                reason = None
                if step_j < 0:
                    reason = "reset"
                elif step_j / (t - times[-1]) > max_power_w:
                    reason = "jump"
                if reason is not None:
                    segments.append(Segment(meter_id, channel, tuple(times), tuple(totals), reason))
                    times, totals = [], []
            times.append(t)
            totals.append(v)
        segments.append(Segment(meter_id, channel, tuple(times), tuple(totals)))
    return segments


@dataclass(frozen=True, slots=True)
class MeterHour:
    """Meter energy in one UTC hour ``[start, start + 1 h)``.

    ``covered_s`` is how much of the hour lies inside segments; ``start_exact``/``end_exact``
    say whether the boundary value was read or interpolated between close readings; ``breaks``
    counts discontinuities (resets, meter changes, jumps) inside the hour.
    """

    start: datetime
    energy_j: float
    covered_s: float
    start_exact: bool
    end_exact: bool
    breaks: int = 0

    @property
    def complete(self) -> bool:
        return self.covered_s >= _HOUR_S - _EPS_S and self.breaks == 0

    @property
    def estimated(self) -> bool:
        return not (self.start_exact and self.end_exact)

    @property
    def exact(self) -> bool:
        return self.complete and not self.estimated


def _hour_floor(t: float) -> float:
    return t - t % _HOUR_S


def hourly_energy(
    segments: Sequence[Segment],
    start: datetime,
    end: datetime,
    *,
    max_bracket_s: float = DEFAULT_MAX_BRACKET_S,
) -> dict[datetime, MeterHour]:
    """Energy per UTC hour in ``[start, end)`` from segments (of one channel, any meters).

    Segments that overlap in time (two meters read at once) are summed: use
    :func:`channel_hours` for readings of several meters.
    """
    lo, hi = start.timestamp(), end.timestamp()
    acc: dict[float, list[float]] = {}  # hour -> [energy, covered, start_exact, end_exact, pieces]
    for seg in segments:
        t_first, t_last = seg.times[0], seg.times[-1]
        if t_last <= lo or t_first >= hi or t_first == t_last:
            continue
        h = max(_hour_floor(t_first), _hour_floor(lo))
        while h < min(t_last, hi):
            a, b = max(h, t_first), min(h + _HOUR_S, t_last)
            if a < b:
                va, span_a = seg.value_at(a)
                vb, span_b = seg.value_at(b)
                slot = acc.setdefault(h, [0.0, 0.0, 0.0, 0.0, 0.0])
                slot[0] += vb - va
                slot[1] += b - a
                slot[4] += 1
                if a == h and span_a <= max_bracket_s:
                    slot[2] = 1.0
                if b == h + _HOUR_S and span_b <= max_bracket_s:
                    slot[3] = 1.0
            h += _HOUR_S
    return {
        datetime.fromtimestamp(h, UTC): MeterHour(
            start=datetime.fromtimestamp(h, UTC),
            energy_j=slot[0],
            covered_s=slot[1],
            start_exact=bool(slot[2]),
            end_exact=bool(slot[3]),
            breaks=int(slot[4]) - 1,
        )
        for h, slot in sorted(acc.items())
    }


def channel_hours(
    readings: Iterable[MeterReading],
    start: datetime,
    end: datetime,
    *,
    max_bracket_s: float = DEFAULT_MAX_BRACKET_S,
    max_power_w: float = DEFAULT_MAX_POWER_W,
) -> dict[datetime, MeterHour]:
    """Energy per UTC hour of one channel read by one or more meters (a replaced meter).

    Meters that cover an hour one after the other are added up (the time between counts as
    uncovered); where two meters read the same hour at once, the one covering more of it is used.
    """
    by_meter: dict[str, list[Segment]] = defaultdict(list)
    for seg in split_segments(readings, max_power_w=max_power_w):
        by_meter[seg.meter_id].append(seg)
    if len(by_meter) <= 1:
        segs = next(iter(by_meter.values()), [])
        return hourly_energy(segs, start, end, max_bracket_s=max_bracket_s)
    per_meter = {
        m: hourly_energy(segs, start, end, max_bracket_s=max_bracket_s)
        for m, segs in sorted(by_meter.items())
    }
    hours = sorted({h for table in per_meter.values() for h in table})
    out: dict[datetime, MeterHour] = {}
    for h in hours:
        parts = [table[h] for table in per_meter.values() if h in table]
        covered = sum(p.covered_s for p in parts)
        if len(parts) == 1:
            out[h] = parts[0]
        elif covered <= _HOUR_S + _EPS_S:
            out[h] = MeterHour(
                start=h,
                energy_j=sum(p.energy_j for p in parts),
                covered_s=covered,
                start_exact=any(p.start_exact for p in parts),
                end_exact=any(p.end_exact for p in parts),
                breaks=sum(p.breaks for p in parts) + len(parts) - 1,
            )
        else:
            out[h] = max(parts, key=lambda p: p.covered_s)
    return out


def hour_starts(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hour starts in ``[start, end)`` (``start`` on the hour grid)."""
    out = []
    at = start
    while at < end:
        out.append(at)
        at += timedelta(hours=1)
    return out
