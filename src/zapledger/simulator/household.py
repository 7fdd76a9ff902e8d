"""The deterministic truth behind the simulator, and its history in wire form with the known quirks.

:class:`Household` answers "what really happened in minute X" (:meth:`Household.minute`,
:meth:`Household.day_totals`) and "what would the cloud report for day D"
(:meth:`Household.day_minutes`, :meth:`Household.day_hours`). Every value is a pure function of the
seed and the timestamp; days are computed independently and kept in a small LRU cache.

Quirks (per UTC day, drawn from the seed, rates in :class:`QuirkRates`):

- *missing minutes*: on about 1 day in 4, 1-5 minutes are absent from the per-minute history;
- *outage*: on about 1 day in 50, one whole UTC hour is absent (its minutes and its hour record);
- *1,441 records*: on about 1 day in 20 the full-day per-minute answer ends with the next day's
  00:00 record (identical to that day's first record; not added when that record is missing);
- *garbage v1/frq*: the records right before and after every gap carry ``v1``/``frq`` of 0 (then
  omitted, as all zeros are) or an absurd value (1 or 65535);
- *hour drift*: about 1 hour record in 50 differs from the sum of its served minutes by 0.5-3 %
  (at least 1 J) in one energy key (the first non-zero of imp/exp/gep, rotated by hour).

Otherwise an hour record is exactly the sum of the minute records served for that hour (so missing
minutes are missing from the hour too); its ``v1``/``frq`` are the rounded means of the true values
of those minutes. The truth (:meth:`Household.minute`, :meth:`Household.day_totals`) has no quirks.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ._physics import MINUTES_PER_DAY, DayTruth, EvSession, Site, simulate_day

__all__ = [
    "ENERGY_KEYS",
    "DayQuirks",
    "EvSession",
    "EvState",
    "Household",
    "QuirkRates",
    "Record",
    "Site",
    "true_day_totals",
]

#: Energy keys the simulated zappi reports (h2*/h3* exist on the wire but are always 0 here).
ENERGY_KEYS = ("imp", "exp", "gep", "gen", "h1d", "h1b")
_DOW = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DRIFT_KEYS = ("imp", "exp", "gep", "h1d", "h1b", "gen")
_GARBAGE_V1 = (0, 1, 65535)
_GARBAGE_FRQ = (0, 1, 65535)

#: A history record in wire form: time keys, then non-zero energies, then v1/frq.
Record = dict[str, int | str]


@dataclass(frozen=True)
class QuirkRates:
    """How often the data-quality quirks occur; ``QuirkRates.none()`` gives clean data."""

    missing_day: float = 0.25
    missing_max: int = 5
    outage_day: float = 0.02
    extra_record_day: float = 0.05
    hour_drift: float = 0.02
    garbage_next_to_gap: bool = True

    @classmethod
    def none(cls) -> QuirkRates:
        return cls(0.0, 0, 0.0, 0.0, 0.0, False)


@dataclass(frozen=True)
class DayQuirks:
    """The quirks of one UTC day; minutes are indexes 0..1439 from 00:00 UTC."""

    day: date
    missing_minutes: tuple[int, ...]
    outage_hour: int | None
    extra_record: bool
    #: minute -> (v1, frq) served instead of the truth.
    garbage: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: hour -> relative error of its hour record (e.g. 0.012 = 1.2 % too high).
    hour_drift: dict[int, float] = field(default_factory=dict)

    @property
    def garbage_minutes(self) -> tuple[int, ...]:
        return tuple(sorted(self.garbage))

    @property
    def drifted_hours(self) -> tuple[int, ...]:
        return tuple(sorted(self.hour_drift))

    def missing_times(self) -> list[datetime]:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return [start + timedelta(minutes=m) for m in self.missing_minutes]


@dataclass(frozen=True)
class EvState:
    """What the first zappi's car is doing in one minute (for the status)."""

    session: EvSession | None
    power_w: int
    #: Energy added since the session's plug-in, up to and including this minute.
    session_energy_j: int
    boosting: bool
    timed_boost: bool
    complete: bool


@dataclass
class _DayWire:
    minute_idx: list[int]
    minutes: list[Record]
    hour_idx: list[int]
    hours: list[Record]


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"need an aware datetime, got naive {ts.isoformat()}")
    return ts.astimezone(UTC)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _time_keys(day: date, hour: int, minute: int) -> Record:
    rec: Record = {"yr": day.year, "mon": day.month, "dom": day.day, "dow": _DOW[day.weekday()]}
    if hour:
        rec["hr"] = hour
    if minute:
        rec["min"] = minute
    return rec


class Household:
    """The seeded household; thread-safe, days cached in an LRU of ``cache_days``."""

    def __init__(
        self,
        seed: int = 1,
        *,
        zappi_serials: Sequence[str] = ("16000001",),
        timezone: str = "Europe/London",
        site: Site | None = None,
        quirk_rates: QuirkRates | None = None,
        history_start: date | None = None,
        cache_days: int = 64,
    ) -> None:
        if not zappi_serials:
            raise ValueError("a household needs at least one zappi serial")
        self.seed = seed
        self.zappi_serials = tuple(str(s) for s in zappi_serials)
        self.site = site if site is not None else Site(timezone=timezone)
        self.quirk_rates = quirk_rates if quirk_rates is not None else QuirkRates()
        self.history_start = history_start
        self._cache_days = cache_days
        self._truth: OrderedDict[date, DayTruth] = OrderedDict()
        self._wire: OrderedDict[tuple[date, int], _DayWire] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Household(seed={self.seed}, zappi_serials={self.zappi_serials!r})"

    # -- truth -------------------------------------------------------------------------------

    def truth(self, day: date) -> DayTruth:
        """The true per-minute flows of a UTC day (cached)."""
        with self._lock:
            hit = self._truth.get(day)
            if hit is not None:
                self._truth.move_to_end(day)
                return hit
        value = simulate_day(self.seed, day, self.site)
        with self._lock:
            self._truth[day] = value
            while len(self._truth) > self._cache_days:
                self._truth.popitem(last=False)
        return value

    def _serial_index(self, serial: str | None) -> int:
        if serial is None:
            return 0
        try:
            return self.zappi_serials.index(serial)
        except ValueError:
            raise ValueError(f"unknown zappi serial {serial!r}") from None

    def minute(self, ts_utc: datetime, serial: str | None = None) -> dict[str, int]:
        """The true energies (J) and v1/frq of the minute containing ``ts_utc``; zeros kept."""
        ts = _utc(ts_utc)
        t = self.truth(ts.date())
        m = ts.hour * 60 + ts.minute
        car = self._serial_index(serial) == 0
        return {
            "imp": t.imp[m],
            "exp": t.exp[m],
            "gep": t.gep[m],
            "gen": t.gen[m],
            "h1d": t.h1d[m] if car else 0,
            "h1b": t.h1b[m] if car else 0,
            "v1": t.v1[m],
            "frq": t.frq[m],
        }

    def day_totals(self, day: date, serial: str | None = None) -> dict[str, int]:
        """True energy totals (J) of a UTC day: the sum of all 1,440 true minutes, no quirks."""
        t = self.truth(day)
        car = self._serial_index(serial) == 0
        return {
            "imp": sum(t.imp),
            "exp": sum(t.exp),
            "gep": sum(t.gep),
            "gen": sum(t.gen),
            "h1d": sum(t.h1d) if car else 0,
            "h1b": sum(t.h1b) if car else 0,
        }

    def reported_day_totals(self, day: date, serial: str | None = None) -> dict[str, int]:
        """Energy totals of the per-minute history served for the day (gaps lose their energy)."""
        out = dict.fromkeys(ENERGY_KEYS, 0)
        for rec in self._day_wire(day, self._serial_index(serial)).minutes:
            for key in ENERGY_KEYS:
                value = rec.get(key, 0)
                assert isinstance(value, int)
                out[key] += value
        return out

    def ev_sessions(self, day: date) -> tuple[EvSession, ...]:
        """The car's plug-ins on the first zappi during a UTC day."""
        return self.truth(day).sessions

    def ev_state(self, ts_utc: datetime, serial: str | None = None) -> EvState:
        """The car at the minute containing ``ts_utc`` (only the first zappi has a car)."""
        ts = _utc(ts_utc)
        t = self.truth(ts.date())
        m = ts.hour * 60 + ts.minute
        if self._serial_index(serial) != 0:
            return EvState(None, 0, 0, False, False, False)
        session = next((s for s in t.sessions if s.contains(ts)), None)
        if session is None:
            return EvState(None, 0, 0, False, False, False)
        first = session.start.hour * 60 + session.start.minute
        added = sum(t.h1d[first : m + 1]) + sum(t.h1b[first : m + 1])
        power_w = round((t.h1d[m] + t.h1b[m]) / 60)
        return EvState(
            session=session,
            power_w=power_w,
            session_energy_j=added,
            boosting=t.h1b[m] > 0,
            timed_boost=m in t.timed_boost_minutes,
            complete=added >= session.need_j,
        )

    # -- quirks ------------------------------------------------------------------------------

    def quirks(self, day: date) -> DayQuirks:
        """The data-quality quirks of a UTC day (cheap: no physics needed)."""
        rates = self.quirk_rates
        rng = random.Random(f"{self.seed}:{day.isoformat()}:quirks")
        missing: set[int] = set()
        if rng.random() < rates.missing_day and rates.missing_max > 0:
            k = rng.randint(1, rates.missing_max)
            missing.update(rng.sample(range(MINUTES_PER_DAY), k))
        outage: int | None = None
        if rng.random() < rates.outage_day:
            outage = rng.randrange(24)
            missing.update(range(outage * 60, outage * 60 + 60))
        extra = rng.random() < rates.extra_record_day
        drift: dict[int, float] = {}
        for hour in range(24):
            u, frac, sign = rng.random(), rng.uniform(0.005, 0.03), rng.random()
            if u < rates.hour_drift and hour != outage:
                drift[hour] = round(frac if sign < 0.5 else -frac, 4)
        garbage: dict[int, tuple[int, int]] = {}
        if rates.garbage_next_to_gap:
            for m in sorted(missing):
                for nb in (m - 1, m + 1):
                    if 0 <= nb < MINUTES_PER_DAY and nb not in missing and nb not in garbage:
                        garbage[nb] = (rng.choice(_GARBAGE_V1), rng.choice(_GARBAGE_FRQ))
        return DayQuirks(
            day=day,
            missing_minutes=tuple(sorted(missing)),
            outage_hour=outage,
            extra_record=extra,
            garbage=garbage,
            hour_drift=drift,
        )

    def find_days(
        self, start: date, stop: date, predicate: Callable[[DayQuirks], bool]
    ) -> Iterator[date]:
        """UTC days in ``[start, stop)`` whose quirks satisfy ``predicate``."""
        day = start
        while day < stop:
            if predicate(self.quirks(day)):
                yield day
            day += timedelta(days=1)

    # -- wire form ---------------------------------------------------------------------------

    def has_history(self, day: date) -> bool:
        return self.history_start is None or day >= self.history_start

    def _day_wire(self, day: date, idx: int) -> _DayWire:
        key = (day, idx)
        with self._lock:
            hit = self._wire.get(key)
            if hit is not None:
                self._wire.move_to_end(key)
                return hit
        value = self._build_wire(day, idx)
        with self._lock:
            self._wire[key] = value
            while len(self._wire) > self._cache_days:
                self._wire.popitem(last=False)
        return value

    def _build_wire(self, day: date, idx: int) -> _DayWire:
        if not self.has_history(day):
            return _DayWire([], [], [], [])
        t = self.truth(day)
        q = self.quirks(day)
        missing = set(q.missing_minutes)
        car = idx == 0
        columns = [
            ("imp", t.imp),
            ("exp", t.exp),
            ("gep", t.gep),
            ("gen", t.gen),
            ("h1d", t.h1d if car else None),
            ("h1b", t.h1b if car else None),
        ]
        time_keys = [_time_keys(day, h, mi) for h in range(24) for mi in range(60)]
        minute_idx: list[int] = []
        minutes: list[Record] = []
        for m in range(MINUTES_PER_DAY):
            if m in missing:
                continue
            rec = dict(time_keys[m])
            for name, col in columns:
                if col is not None and col[m]:
                    rec[name] = col[m]
            v1, frq = q.garbage.get(m, (t.v1[m], t.frq[m]))
            if v1:
                rec["v1"] = v1
            if frq:
                rec["frq"] = frq
            minute_idx.append(m)
            minutes.append(rec)
        hour_idx: list[int] = []
        hours: list[Record] = []
        for hour in range(24):
            hour_rec = self._hour_record(t, day, hour, minute_idx, car, MINUTES_PER_DAY)
            if hour_rec is None:
                continue
            if hour in q.hour_drift:
                _apply_drift(hour_rec, hour, q.hour_drift[hour])
            hour_idx.append(hour)
            hours.append(hour_rec)
        return _DayWire(minute_idx, minutes, hour_idx, hours)

    @staticmethod
    def _hour_record(
        t: DayTruth, day: date, hour: int, served: list[int], car: bool, cut: int
    ) -> Record | None:
        lo, hi = hour * 60, min(hour * 60 + 60, cut)
        ms = [m for m in served if lo <= m < hi]
        if not ms:
            return None
        rec = _time_keys(day, hour, 0)
        columns = [("imp", t.imp), ("exp", t.exp), ("gep", t.gep), ("gen", t.gen)]
        if car:
            columns += [("h1d", t.h1d), ("h1b", t.h1b)]
        for name, col in columns:
            total = sum(col[m] for m in ms)
            if total:
                rec[name] = total
        rec["v1"] = round(sum(t.v1[m] for m in ms) / len(ms))
        rec["frq"] = round(sum(t.frq[m] for m in ms) / len(ms))
        return rec

    @staticmethod
    def _cut(day: date, until: datetime | None) -> int:
        """How many minutes of ``day`` have ended by ``until``."""
        if until is None:
            return MINUTES_PER_DAY
        elapsed = (until - _day_start(day)).total_seconds()
        return max(0, min(MINUTES_PER_DAY, int(elapsed // 60)))

    def day_minutes(
        self, day: date, serial: str | None = None, *, until: datetime | None = None
    ) -> list[Record]:
        """The full-day ``cgi-jday`` answer (list of records) with quirks, cut at ``until``."""
        idx = self._serial_index(serial)
        wire = self._day_wire(day, idx)
        cut = self._cut(day, until)
        out = [dict(r) for m, r in zip(wire.minute_idx, wire.minutes, strict=True) if m < cut]
        nxt = day + timedelta(days=1)
        if self.quirks(day).extra_record and out and self._cut(nxt, until) >= 1:
            following = self._day_wire(nxt, idx)
            if following.minute_idx and following.minute_idx[0] == 0:
                out.append(dict(following.minutes[0]))
        return out

    def day_hours(
        self, day: date, serial: str | None = None, *, until: datetime | None = None
    ) -> list[Record]:
        """The full-day ``cgi-jdayhour`` answer with quirks; the running hour is partial."""
        idx = self._serial_index(serial)
        wire = self._day_wire(day, idx)
        cut = self._cut(day, until)
        out: list[Record] = []
        for hour, rec in zip(wire.hour_idx, wire.hours, strict=True):
            if (hour + 1) * 60 <= cut:
                out.append(dict(rec))
            elif hour * 60 < cut:
                partial = self._hour_record(
                    self.truth(day), day, hour, wire.minute_idx, idx == 0, cut
                )
                if partial is not None:
                    out.append(partial)
        return out

    def minute_window(
        self,
        start: datetime,
        count: int,
        serial: str | None = None,
        *,
        until: datetime | None = None,
    ) -> list[Record]:
        """``count`` per-minute records from ``start`` (UTC, whole minute), across days."""
        idx = self._serial_index(serial)
        start = _utc(start).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=count)
        out: list[Record] = []
        day = start.date()
        while _day_start(day) < end:
            wire = self._day_wire(day, idx)
            lo = max(0, int((start - _day_start(day)).total_seconds() // 60))
            hi = min(int((end - _day_start(day)).total_seconds() // 60), self._cut(day, until))
            out.extend(
                dict(r) for m, r in zip(wire.minute_idx, wire.minutes, strict=True) if lo <= m < hi
            )
            day += timedelta(days=1)
        return out

    def hour_window(
        self,
        start: datetime,
        count: int,
        serial: str | None = None,
        *,
        until: datetime | None = None,
    ) -> list[Record]:
        """``count`` hourly records from ``start`` (UTC, whole hour), across days if need be."""
        start = _utc(start).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=count)
        out: list[Record] = []
        day = start.date()
        while _day_start(day) < end:
            for rec in self.day_hours(day, serial, until=until):
                hr = rec.get("hr", 0)
                assert isinstance(hr, int)
                if start <= _day_start(day) + timedelta(hours=hr) < end:
                    out.append(rec)
            day += timedelta(days=1)
        return out


def _apply_drift(rec: Record, hour: int, frac: float) -> None:
    """Make one energy key of an hour record differ from its minutes' sum (at least 1 J)."""
    n = len(_DRIFT_KEYS)
    for i in range(n):
        key = _DRIFT_KEYS[(hour + i) % 3] if i < 3 else _DRIFT_KEYS[i]
        value = rec.get(key)
        if isinstance(value, int) and value > 0:
            delta = round(value * frac) or (1 if frac > 0 else -1)
            changed = max(1, value + delta)
            rec[key] = changed if changed != value else value + 1
            return


def true_day_totals(
    seed: int, day: date, *, timezone: str = "Europe/London", site: Site | None = None
) -> dict[str, int]:
    """True energy totals (J) of one UTC day of the household with this seed (no quirks)."""
    chosen = site if site is not None else Site(timezone=timezone)
    t = simulate_day(seed, day, chosen)
    return {key: sum(getattr(t, key)) for key in ENERGY_KEYS}
