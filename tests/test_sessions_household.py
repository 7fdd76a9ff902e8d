"""Sessions of the simulator's household: checked against the plug-ins it really simulated.

The household's truth (``Household.ev_sessions``) says when the car was plugged in, in which mode
and how much it got; the minute history it serves is stored and the sessions derived from that
must add up to it. Status snapshots come over HTTP from the simulator, as the collector gets them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from zapledger.backfill import sync_zappi
from zapledger.client import Client
from zapledger.demo import demo_statuses
from zapledger.localtime import local_day_window
from zapledger.models import Resolution, parse_history
from zapledger.sessions import (
    MARGIN,
    MAX_MISSING_JOIN,
    ChargeSession,
    EndReason,
    SessionMinute,
    derive_sessions,
    sessions,
)
from zapledger.simulator import EvSession, Household, QuirkRates, Simulator
from zapledger.store import Store, open_store

TZ = "Europe/London"
FIRST, LAST = date(2024, 6, 1), date(2024, 6, 30)
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SERIAL = "16000001"
MINUTE = timedelta(minutes=1)
MODE_NAMES = {1: "fast", 2: "eco", 3: "eco_plus"}


def store_household(store: Store, household: Household, first: date, last: date) -> None:
    """The UTC days ``first``..``last`` of minute history, as the cloud serves them."""
    store.upsert_device(SERIAL, "zappi")
    day = first
    while day <= last:
        history = parse_history({f"U{SERIAL}": household.day_minutes(day)}, Resolution.MINUTE)
        store.upsert_history(SERIAL, Resolution.MINUTE, history.records)
        day += timedelta(days=1)


def true_sessions(household: Household, first: date, last: date) -> list[EvSession]:
    out: list[EvSession] = []
    day = first
    while day <= last:
        out += household.ev_sessions(day)
        day += timedelta(days=1)
    return out


def containing(session: ChargeSession, truth: list[EvSession]) -> EvSession:
    (plug,) = [t for t in truth if t.start <= session.start and session.end <= t.end]
    return plug


@pytest.fixture(scope="module")
def clean() -> Iterator[tuple[Household, Store]]:
    household = Household(seed=1, quirk_rates=QuirkRates.none())
    with open_store("sqlite:///:memory:") as store:
        store_household(store, household, FIRST - timedelta(days=2), LAST + timedelta(days=2))
        yield household, store


@pytest.fixture(scope="module")
def quirky() -> Iterator[tuple[Household, Store]]:
    household = Household(seed=1)
    with open_store("sqlite:///:memory:") as store:
        store_household(store, household, FIRST - timedelta(days=2), LAST + timedelta(days=2))
        yield household, store


def test_sessions_add_up_to_what_each_plug_in_delivered(clean: tuple[Household, Store]) -> None:
    household, store = clean
    found = sessions(store, FIRST, LAST, TZ, now=NOW).sessions
    truth = true_sessions(household, FIRST - timedelta(days=1), LAST + timedelta(days=1))
    start, end = local_day_window(FIRST, TZ)[0], local_day_window(LAST, TZ)[1]
    charged = [t for t in truth if t.delivered_j and start <= t.start < end]
    by_plug: dict[datetime, int] = {}
    for s in found:
        plug = containing(s, truth)
        by_plug[plug.start] = by_plug.get(plug.start, 0) + s.energy_j
        assert s.missing_minutes == 0 and s.end_reason is EndReason.PAUSE
    assert by_plug == {t.start: t.delivered_j for t in charged}


def test_solar_and_grid_split_follows_the_mode(clean: tuple[Household, Store]) -> None:
    """Fast and the night boost timer take grid energy (boost), Eco and Eco+ divert."""
    household, store = clean
    truth = true_sessions(household, FIRST - timedelta(days=1), LAST + timedelta(days=1))
    kinds = set()
    for s in sessions(store, FIRST, LAST, TZ, now=NOW).sessions:
        plug = containing(s, truth)
        grid = plug.timed_boost or plug.mode == 1
        kinds.add((plug.mode, plug.timed_boost))
        assert s.solar_share == (0.0 if grid else 1.0)
    assert len(kinds) >= 3  # the month holds several kinds of charging


def test_kwh_recomputed_from_the_stored_minutes(quirky: tuple[Household, Store]) -> None:
    _, store = quirky
    for s in sessions(store, FIRST, LAST, TZ, now=NOW).sessions:
        recs = store.history(SERIAL, Resolution.MINUTE, s.start, s.end)
        diverted = sum(r.diverted_h1_j + r.diverted_h2_j + r.diverted_h3_j for r in recs)
        boosted = sum(r.boosted_h1_j + r.boosted_h2_j + r.boosted_h3_j for r in recs)
        assert (s.diverted_j, s.boosted_j) == (diverted, boosted)
        assert s.as_dict(TZ)["energy_kwh"] == pytest.approx((diverted + boosted) / 3_600_000)


def test_minutes_the_cloud_lost_are_marked_inside_sessions(
    quirky: tuple[Household, Store],
) -> None:
    household, store = quirky
    lost = set()
    for offset in range(-1, 32):
        lost.update(household.quirks(FIRST + timedelta(days=offset)).missing_times())
    marked = 0
    for s in sessions(store, FIRST, LAST, TZ, now=NOW).sessions:
        inside = {m for m in lost if s.start <= m < s.end}
        listed = {a + i * MINUTE for a, b in s.missing for i in range((b - a) // MINUTE)}
        assert listed == inside
        marked += len(listed)
    assert marked > 0  # the month does lose minutes inside sessions


def test_modes_and_plug_times_from_collected_snapshots() -> None:
    """Backfill three days over HTTP and take a status every 10 minutes, like the collector
    (the demo's way: ``demo_statuses`` winds the simulator's clock)."""
    first, last = date(2024, 6, 10), date(2024, 6, 12)
    with (
        Simulator(seed=1, quirk_rates=QuirkRates.none(), now=NOW) as sim,
        open_store("sqlite:///:memory:") as store,
    ):

        async def collect() -> None:
            async with Client(
                sim.hub_serial, "sim-api-key", director_url=sim.url, rate_limit_per_s=None
            ) as client:
                summary = await sync_zappi(client, store, SERIAL, first, last, TZ, now=NOW)
                assert summary.ok
                await demo_statuses(
                    client, store, sim, SERIAL, first, last, TZ, step=timedelta(minutes=10)
                )

        asyncio.run(collect())
        found = sessions(store, first, last, TZ, now=NOW).sessions
    truth = true_sessions(sim.household, first - timedelta(days=1), last)
    assert found
    for s in found:
        plug = containing(s, truth)
        assert s.modes == (MODE_NAMES[plug.mode],)
        # the first snapshot after the car was plugged in, and the first after it left
        assert s.plugged_in_at is not None and s.unplugged_at is not None
        assert timedelta(0) <= s.plugged_in_at - plug.start < timedelta(minutes=10)
        assert timedelta(0) <= s.unplugged_at - plug.end < timedelta(minutes=10)


@pytest.mark.parametrize("pause_min", [30, 60, 90])
def test_quiet_hours_read_as_blocks_change_nothing(
    quirky: tuple[Household, Store], pause_min: int
) -> None:
    """``sessions()`` skips the minutes of idle, complete hours; deriving from every stored
    minute (read as HistoryRecords) gives the same sessions."""
    _, store = quirky
    pause = timedelta(minutes=pause_min)
    report = sessions(store, FIRST, LAST, TZ, pause=pause, now=NOW)
    start, end = local_day_window(FIRST, TZ)[0], local_day_window(LAST, TZ)[1]
    records = store.history(SERIAL, Resolution.MINUTE, start - timedelta(days=2), end + MARGIN)
    every = [SessionMinute(r.timestamp, r.diverted_j, r.boosted_j) for r in records]
    derived = derive_sessions(SERIAL, every, [], pause=pause, max_missing=MAX_MISSING_JOIN)
    assert report.sessions == tuple(s for s in derived if start <= s.start < end)
    assert len(report.sessions) > 10
