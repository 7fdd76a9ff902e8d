"""The physics of the simulated household: one UTC day of per-minute energy flows.

Everything is a pure function of ``(seed, day, site)``: each day draws from its own seeded random
streams (weather, load, EV, grid), so any day can be computed without simulating the ones before it.
Energies are integer joules per minute; the grid balance is exact in joules:
``imp - exp == load + ev + gen - gep`` for every minute.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["MINUTES_PER_DAY", "DayTruth", "EvSession", "Site", "simulate_day"]

MINUTES_PER_DAY = 1440
#: Charger limits in W: 32 A single phase, and the 6 A minimum that Eco/Eco+ charge at.
EV_MAX_W = 7360.0
EV_FAST_W = 7200.0
EV_MIN_W = 1400.0
#: Inverter stand-by draw at night, reported as ``gen`` (J per minute at 3 W).
INVERTER_NIGHT_J = 180

MODE_FAST = 1
MODE_ECO = 2
MODE_ECO_PLUS = 3


@dataclass(frozen=True)
class Site:
    """Where and what the household is; the defaults are a UK semi with 5.2 kWp of PV."""

    timezone: str = "Europe/London"
    latitude_deg: float = 52.2
    longitude_deg: float = -1.2
    pv_peak_w: float = 5200.0
    #: Local time the household's boost timer (slot 11) starts charging the car at night.
    night_boost_start_local_min: int = 60
    night_boost_duration_min: int = 240


@dataclass(frozen=True)
class EvSession:
    """One plug-in of the car on the first zappi, within one UTC day."""

    start: datetime
    end: datetime
    #: 1 Fast, 2 Eco, 3 Eco+ (the zappi's ``zmo``).
    mode: int
    #: Charged by the boost timer (grid energy booked as ``h1b``).
    timed_boost: bool
    need_j: int
    delivered_j: int

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


@dataclass(frozen=True)
class DayTruth:
    """The true per-minute flows of one UTC day (index = minute of the day, 0..1439)."""

    day: date
    imp: tuple[int, ...]
    exp: tuple[int, ...]
    gep: tuple[int, ...]
    gen: tuple[int, ...]
    h1d: tuple[int, ...]
    h1b: tuple[int, ...]
    v1: tuple[int, ...]
    frq: tuple[int, ...]
    #: House consumption without the car, J per minute (not a wire key).
    load: tuple[int, ...]
    sessions: tuple[EvSession, ...]
    #: Minutes during which the boost timer was charging.
    timed_boost_minutes: frozenset[int]


def _rng(seed: int, day: date, stream: str) -> random.Random:
    # String seeds are hashed with SHA-512 by random (version 2): stable across processes.
    return random.Random(f"{seed}:{day.isoformat()}:{stream}")


def _season(day: date) -> float:
    """+1 at midsummer, -1 at midwinter."""
    return math.cos(2.0 * math.pi * (day.timetuple().tm_yday - 172) / 365.0)


def _sun_sin_elevation(site: Site, day: date) -> list[float]:
    """sin(solar elevation) for the middle of every UTC minute of the day."""
    doy = day.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2.0 * math.pi * (284 + doy) / 365.0)
    b = 2.0 * math.pi * (doy - 81) / 364.0
    eot_min = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    lat = math.radians(site.latitude_deg)
    a_term = math.sin(lat) * math.sin(decl)
    b_term = math.cos(lat) * math.cos(decl)
    shift_min = site.longitude_deg * 4.0 + eot_min
    step = 2.0 * math.pi / MINUTES_PER_DAY
    return [
        a_term + b_term * math.cos((m + 0.5 + shift_min) * step - math.pi)
        for m in range(MINUTES_PER_DAY)
    ]


def _cloud_factors(rng: random.Random, day: date) -> list[float]:
    """Fraction of clear-sky PV that gets through, per minute: a day type plus passing clouds."""
    season = _season(day)
    draw = rng.random()
    p_overcast = 0.42 - 0.18 * season
    p_clear = 0.22 + 0.14 * season
    out: list[float] = []
    if draw < p_overcast:
        level = rng.uniform(0.12, 0.35)
        for _ in range(MINUTES_PER_DAY):
            level += rng.uniform(-0.01, 0.01)
            level = min(0.45, max(0.08, level))
            out.append(level)
    elif draw < p_overcast + p_clear:
        base = rng.uniform(0.9, 1.0)
        out = [base - 0.03 * rng.random() for _ in range(MINUTES_PER_DAY)]
    else:
        to_shade = rng.uniform(0.03, 0.12)
        to_sun = rng.uniform(0.08, 0.25)
        shade_level = rng.uniform(0.2, 0.4)
        sunny = True
        for _ in range(MINUTES_PER_DAY):
            u = rng.random()
            if sunny and u < to_shade:
                sunny = False
            elif not sunny and u < to_sun:
                sunny = True
            out.append(0.95 if sunny else shade_level)
    return out


def _utc_offsets_min(site: Site, day: date) -> list[int]:
    """UTC offset of the site's local time, in minutes, for each UTC hour of the day."""
    tz = ZoneInfo(site.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    offsets = []
    for h in range(24):
        off = (start + timedelta(hours=h)).astimezone(tz).utcoffset()
        offsets.append(int(off.total_seconds() // 60) if off is not None else 0)
    return offsets


def _add_event(
    load_w: list[float], offset_min: int, local_start: int, steps: list[tuple[int, float]]
) -> None:
    """Add an appliance run (list of (minutes, watts)) starting at a local minute of the day."""
    idx = local_start - offset_min
    for minutes, watts in steps:
        for m in range(idx, idx + minutes):
            if 0 <= m < MINUTES_PER_DAY:
                load_w[m] += watts
        idx += minutes


def _house_load_w(rng: random.Random, site: Site, day: date, offsets: list[int]) -> list[float]:
    """House consumption without the car: base, fridge, daily profile, appliances, noise."""
    season = _season(day)
    noon_offset = offsets[12]
    local_weekday = (
        (datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
        .astimezone(ZoneInfo(site.timezone))
        .weekday()
    )
    weekend = local_weekday >= 5
    base = rng.uniform(110.0, 180.0) + 60.0 * max(0.0, -season)
    fridge_phase = rng.randrange(40)
    load = []
    for m in range(MINUTES_PER_DAY):
        local_h = ((m + offsets[m // 60]) % MINUTES_PER_DAY) / 60.0
        if local_h < 6.5:
            prof = 0.0
        elif local_h < 8.5:
            prof = 280.0
        elif local_h < 17.0:
            prof = 260.0 if weekend else 110.0
        elif local_h < 22.0:
            prof = 420.0 + 180.0 * math.sin((local_h - 17.0) / 5.0 * math.pi)
        else:
            prof = 160.0
        fridge = 85.0 if ((m + fridge_phase) // 20) % 2 == 0 else 0.0
        load.append(base + prof + fridge + rng.uniform(-25.0, 25.0))
    for _ in range(rng.randint(3, 7)):
        _add_event(load, noon_offset, rng.randint(390, 1320), [(3, 2800.0)])
    if rng.random() < 0.65:
        _add_event(load, noon_offset, rng.randint(1020, 1110), [(rng.randint(30, 60), 1700.0)])
    if rng.random() < (0.6 if weekend else 0.35):
        _add_event(load, noon_offset, rng.randint(480, 1140), [(18, 2000.0), (70, 260.0)])
    if rng.random() < 0.5:
        _add_event(
            load, noon_offset, rng.randint(1140, 1320), [(25, 1800.0), (55, 140.0), (10, 1800.0)]
        )
    if rng.random() < 0.3 * (1.0 - season):
        _add_event(load, noon_offset, rng.randint(600, 1200), [(rng.randint(45, 90), 2300.0)])
    return load


@dataclass
class _Plan:
    start: int
    end: int
    mode: int
    timed_boost: bool
    need_j: int
    charge_from: int


def _plan_sessions(rng: random.Random, site: Site, day: date, offsets: list[int]) -> list[_Plan]:
    """Which plug-ins happen today (minute indexes within the UTC day)."""
    tz = ZoneInfo(site.timezone)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).astimezone(tz)
    weekend = noon.weekday() >= 5
    off = offsets[12]
    kwh = 3_600_000
    night, daytime, evening = rng.random(), rng.random(), rng.random()
    plans: list[_Plan] = []
    if night < 0.2:
        unplug = 450 + rng.randint(0, 45) - off
        boost_from = max(0, site.night_boost_start_local_min - off)
        need = rng.randint(10, 30) * kwh
        plans.append(_Plan(0, max(unplug, 1), MODE_ECO_PLUS, True, need, boost_from))
    if daytime < (0.35 if weekend else 0.15):
        start = rng.randint(570, 660) - off
        end = rng.randint(930, 1020) - off
        mode = MODE_ECO_PLUS if rng.random() < 0.7 else MODE_ECO
        plans.append(_Plan(start, end, mode, False, rng.randint(5, 25) * kwh, start))
    if evening < 0.3:
        start = rng.randint(1050, 1140) - off
        end = min(rng.randint(1350, 1410) - off, MINUTES_PER_DAY)
        mode = MODE_FAST if rng.random() < 0.45 else MODE_ECO
        plans.append(_Plan(start, end, mode, False, rng.randint(8, 30) * kwh, start))
    return [p for p in plans if 0 <= p.start < p.end <= MINUTES_PER_DAY]


def simulate_day(seed: int, day: date, site: Site) -> DayTruth:
    """Compute one UTC day of the household from scratch (a few milliseconds)."""
    offsets = _utc_offsets_min(site, day)
    sun = _sun_sin_elevation(site, day)
    clouds = _cloud_factors(_rng(seed, day, "weather"), day)
    load_w = _house_load_w(_rng(seed, day, "load"), site, day, offsets)
    plans = _plan_sessions(_rng(seed, day, "ev"), site, day, offsets)
    grid_rng = _rng(seed, day, "grid")

    n = MINUTES_PER_DAY
    imp, exp, gep, gen = [0] * n, [0] * n, [0] * n, [0] * n
    h1d, h1b, v1, frq, load = [0] * n, [0] * n, [0] * n, [0] * n, [0] * n
    plan_at: list[_Plan | None] = [None] * n
    for planned in plans:
        for m in range(planned.start, planned.end):
            plan_at[m] = planned
    delivered = {id(p): 0 for p in plans}
    boost_end = site.night_boost_start_local_min + site.night_boost_duration_min - offsets[0]
    timed: set[int] = set()
    peak = site.pv_peak_w
    freq = 5000.0 + grid_rng.uniform(-4.0, 4.0)
    volt_base = grid_rng.uniform(2370.0, 2430.0)

    for m in range(n):
        s = sun[m]
        pv_w = peak * (s**1.2) * clouds[m] if s > 0.0 else 0.0
        gep_j = round(pv_w * 60.0) if pv_w >= 5.0 else 0
        gen_j = 0 if gep_j else INVERTER_NIGHT_J
        load_j = round(load_w[m] * 60.0)
        ev_w = 0.0
        plan = plan_at[m]
        if plan is not None and m >= plan.charge_from:
            left = plan.need_j - delivered[id(plan)]
            if left > 0:
                surplus = (gep_j - load_j - gen_j) / 60.0
                if plan.timed_boost:
                    ev_w = EV_FAST_W if m < boost_end else 0.0
                elif plan.mode == MODE_FAST:
                    ev_w = EV_FAST_W
                elif plan.mode == MODE_ECO:
                    ev_w = min(max(surplus, EV_MIN_W), EV_MAX_W)
                elif surplus >= EV_MIN_W:
                    ev_w = min(surplus + grid_rng.uniform(-30.0, 30.0), EV_MAX_W)
                ev_j = min(round(ev_w * 60.0), left) if ev_w > 0.0 else 0
                if ev_j:
                    delivered[id(plan)] += ev_j
                    if plan.timed_boost or plan.mode == MODE_FAST:
                        h1b[m] = ev_j
                        if plan.timed_boost:
                            timed.add(m)
                    else:
                        h1d[m] = ev_j
        net_j = load_j + h1d[m] + h1b[m] + gen_j - gep_j
        if net_j >= 0:
            imp[m] = net_j
        else:
            exp[m] = -net_j
        gep[m], gen[m], load[m] = gep_j, gen_j, load_j
        freq += grid_rng.uniform(-1.5, 1.5) + (5000.0 - freq) * 0.05
        frq[m] = round(freq)
        v1[m] = round(
            volt_base + exp[m] / 60.0 * 0.015 - imp[m] / 60.0 * 0.008 + grid_rng.uniform(-6, 6)
        )

    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    sessions = tuple(
        EvSession(
            start=day_start + timedelta(minutes=p.start),
            end=day_start + timedelta(minutes=p.end),
            mode=p.mode,
            timed_boost=p.timed_boost,
            need_j=p.need_j,
            delivered_j=delivered[id(p)],
        )
        for p in sorted(plans, key=lambda p: p.start)
    )
    return DayTruth(
        day=day,
        imp=tuple(imp),
        exp=tuple(exp),
        gep=tuple(gep),
        gen=tuple(gen),
        h1d=tuple(h1d),
        h1b=tuple(h1b),
        v1=tuple(v1),
        frq=tuple(frq),
        load=tuple(load),
        sessions=sessions,
        timed_boost_minutes=frozenset(timed),
    )
