"""Sync end to end: the real client against the simulator (HTTP on 127.0.0.1), a SQLite file.

The key behaviours run against the real PostgreSQL store too (``@ON_BOTH_STORES``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import stamina

from zapledger.backfill import DayWritten, SyncEvent, sync_zappi
from zapledger.client import Client
from zapledger.models import History, Resolution
from zapledger.simulator import Faults, QuirkRates, Simulator
from zapledger.store import Store, open_store
from zone_windows import day_window

HUB = "10077777"
KEY = "sync-test-key-9f8e7d"
ZAPPI = "16000001"
#: The simulator's frozen clock: every day below is long settled.
NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)
WINTER = date(2024, 1, 8)  # in Europe/London winter a local day is the UTC day


@pytest.fixture
def no_retry_waits() -> Iterator[None]:
    """Retries as configured, without their waits (not for the Retry-After test)."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        seed=5, hub_serial=HUB, api_key=KEY, now=NOW, faults=Faults(retry_after_s=1)
    ) as s:
        yield s


def make_client(sim: Simulator, **kw: object) -> Client:
    options: dict[str, object] = {
        "rate_limit_per_s": None,
        "adaptive": False,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 2.0,
        "timeout_s": 10.0,
    }
    options.update(kw)
    return Client(HUB, KEY, director_url=sim.url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with make_client(sim) as c:
        yield c


#: Run a test on both back ends: SQLite and the real PostgreSQL server (tests/pg_server.py).
ON_BOTH_STORES = pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A SQLite file, or a fresh PostgreSQL schema for the tests marked ``@ON_BOTH_STORES``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = f"sqlite:///{tmp_path / 'sync.sqlite3'}"
    else:
        url = cast(str, request.getfixturevalue("pg_url"))
    with open_store(url) as s:
        yield s


@ON_BOTH_STORES
async def test_backfill_stores_what_the_cloud_serves(
    sim: Simulator, client: Client, store: Store
) -> None:
    last = WINTER + timedelta(days=6)
    summary = await sync_zappi(client, store, ZAPPI, WINTER, last, "Europe/London", now=NOW)
    assert summary.ok and summary.days_written == 14
    for i in range(7):
        day = WINTER + timedelta(days=i)
        served = sim.household.day_minutes(day, ZAPPI)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        stored = store.history(ZAPPI, Resolution.MINUTE, start, end)
        quirks = sim.household.quirks(day)
        assert len(stored) == 1440 - len(quirks.missing_minutes)
        served_in_day = [r for r in served if r["dom"] == day.day]
        assert sum(r.import_j for r in stored) == sum(int(r.get("imp", 0)) for r in served_in_day)
        hours = store.history(ZAPPI, Resolution.HOUR, start, end)
        assert len(hours) == 24 - (quirks.outage_hour is not None)
        state = store.sync_states(ZAPPI, Resolution.MINUTE, day, day)[day]
        assert state.final and state.missing == len(quirks.missing_minutes)
    # 7 minute requests and one hour request for the 7 days (plus digest challenges)
    assert sim.stats.by_status[200] == 8
    assert summary.requests == sim.stats.total


@ON_BOTH_STORES
async def test_rerun_inserts_nothing_and_asks_nothing(
    sim: Simulator, client: Client, store: Store
) -> None:
    last = WINTER + timedelta(days=4)
    await sync_zappi(client, store, ZAPPI, WINTER, last, "Europe/London", now=NOW)
    counts = (
        store.count_history(None, Resolution.MINUTE),
        store.count_history(None, Resolution.HOUR),
    )
    sim.reset_stats()
    again = await sync_zappi(client, store, ZAPPI, WINTER, last, "Europe/London", now=NOW)
    assert again.planned == () and again.rows_changed == 0
    assert sim.stats.total == 0
    assert (
        store.count_history(None, Resolution.MINUTE),
        store.count_history(None, Resolution.HOUR),
    ) == counts


async def test_account_moving_in_the_middle_of_a_backfill(
    sim: Simulator, client: Client, store: Store
) -> None:
    moved: list[str] = []

    def on_event(event: SyncEvent) -> None:
        if not isinstance(event, DayWritten) or event.resolution is not Resolution.MINUTE:
            return
        if event.day in (WINTER + timedelta(days=2), WINTER + timedelta(days=5)):
            moved.append(sim.move_account())

    summary = await sync_zappi(
        client,
        store,
        ZAPPI,
        WINTER,
        WINTER + timedelta(days=9),
        "Europe/London",
        now=NOW,
        on_event=on_event,
        concurrency=2,
    )
    assert len(moved) == 2 and sim.stats.account_moves == 2
    assert summary.ok and summary.days_written == 20
    assert client.base_url == f"http://{sim.asn}"


async def test_account_moving_every_few_requests(tmp_path: Path, store: Store) -> None:
    with Simulator(
        seed=5, hub_serial=HUB, api_key=KEY, now=NOW, faults=Faults(asn_change_every=4)
    ) as moving:
        async with make_client(moving) as c:
            summary = await sync_zappi(
                c,
                store,
                ZAPPI,
                WINTER,
                WINTER + timedelta(days=9),
                "Europe/London",
                now=NOW,
                hour_chunk_days=1,
            )
        assert moving.stats.account_moves >= 5
    assert summary.ok and summary.days_written == 20


async def test_429_with_retry_after_is_waited_out(
    sim: Simulator, client: Client, store: Store
) -> None:
    sim.fail_next("429", count=2, path_contains="cgi-jday-")
    started = time.monotonic()
    summary = await sync_zappi(
        client, store, ZAPPI, WINTER, WINTER + timedelta(days=3), "Europe/London", now=NOW
    )
    assert summary.ok and summary.days_written == 8
    assert sim.stats.by_status.get(429) == 2
    assert time.monotonic() - started >= 0.9  # Retry-After: 1


@ON_BOTH_STORES
@pytest.mark.usefixtures("no_retry_waits")
async def test_a_corrupt_day_among_good_ones(sim: Simulator, client: Client, store: Store) -> None:
    bad = WINTER + timedelta(days=2)
    sim.corrupt_day(bad, "truncated")
    summary = await sync_zappi(
        client, store, ZAPPI, WINTER, WINTER + timedelta(days=4), "Europe/London", now=NOW
    )
    assert not summary.ok
    assert [(f.resolution, f.day) for f in summary.failures] == [(Resolution.MINUTE, bad)]
    assert summary.days_written == 9  # the hour chunk starts on another day and is whole
    state = store.sync_states(ZAPPI, Resolution.MINUTE, bad, bad)[bad]
    assert state.error and state.attempts == 1 and state.fetched_at is None
    good = store.sync_states(ZAPPI, Resolution.MINUTE, WINTER, WINTER + timedelta(days=4))
    assert sum(1 for s in good.values() if s.error is None) == 4
    # once the cloud serves the day again, the next run fetches just that day
    sim.clear_faults()
    again = await sync_zappi(
        client, store, ZAPPI, WINTER, WINTER + timedelta(days=4), "Europe/London", now=NOW
    )
    assert again.ok and [p.day for p in again.planned] == [bad]


@pytest.mark.usefixtures("no_retry_waits")
async def test_a_corrupt_hour_request_falls_back_to_single_days(
    sim: Simulator, client: Client, store: Store
) -> None:
    sim.corrupt_day(WINTER, "html")  # the day the hour chunk starts on
    summary = await sync_zappi(
        client, store, ZAPPI, WINTER, WINTER + timedelta(days=3), "Europe/London", now=NOW
    )
    failed = sorted((f.resolution.value, f.day) for f in summary.failures)
    assert failed == [("hour", WINTER), ("minute", WINTER)]
    hours = store.sync_states(ZAPPI, Resolution.HOUR, WINTER, WINTER + timedelta(days=3))
    assert sorted(d for d, s in hours.items() if s.error is None) == [
        WINTER + timedelta(days=i) for i in (1, 2, 3)
    ]


@ON_BOTH_STORES
@pytest.mark.parametrize(
    ("tz", "day", "hours", "minutes"),
    [
        ("Europe/London", date(2021, 3, 28), 23, 1380),
        ("Europe/London", date(2021, 10, 31), 25, 1500),
        ("Europe/Amsterdam", date(2021, 3, 28), 23, 1380),
        ("Europe/Amsterdam", date(2021, 10, 31), 25, 1500),
    ],
)
async def test_dst_days_have_23_and_25_hourly_rows(
    tmp_path: Path, store: Store, tz: str, day: date, hours: int, minutes: int
) -> None:
    with Simulator(
        seed=5, hub_serial=HUB, api_key=KEY, now=NOW, timezone=tz, quirk_rates=QuirkRates.none()
    ) as clean:
        async with make_client(clean) as c:
            summary = await sync_zappi(
                c, store, ZAPPI, day - timedelta(days=1), day + timedelta(days=1), tz, now=NOW
            )
    assert summary.ok
    start, end = day_window(day, tz)
    assert (end - start) // timedelta(hours=1) == hours
    assert len(store.history(ZAPPI, Resolution.HOUR, start, end)) == hours
    assert len(store.history(ZAPPI, Resolution.MINUTE, start, end)) == minutes
    for resolution, n in ((Resolution.HOUR, hours), (Resolution.MINUTE, minutes)):
        state = store.sync_states(ZAPPI, resolution, day, day)[day]
        assert state.expected == state.records == n and state.missing == 0
    # the three days together hold exactly their records: nothing lost or doubled at the seams
    lo = day_window(day - timedelta(days=1), tz)[0]
    hi = day_window(day + timedelta(days=1), tz)[1]
    assert store.count_history(ZAPPI, Resolution.HOUR) == hours + 48
    assert len(store.history(ZAPPI, Resolution.HOUR, lo, hi)) == hours + 48


@ON_BOTH_STORES
async def test_a_half_elapsed_day_misses_only_its_real_gaps(
    sim: Simulator, client: Client, store: Store
) -> None:
    # a winter day (local = UTC) the cloud lacks minutes of both before and after noon
    day = next(
        sim.household.find_days(
            date(2024, 1, 2),
            date(2024, 3, 1),
            lambda q: (
                q.outage_hour is None
                and any(m < 720 for m in q.missing_minutes)
                and any(m >= 720 for m in q.missing_minutes)
            ),
        )
    )
    yesterday = day - timedelta(days=1)
    lacking = sim.household.quirks(day).missing_minutes
    gone = [m for m in lacking if m < 720]
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    sim.set_now(noon)
    summary = await sync_zappi(client, store, ZAPPI, yesterday, day, "Europe/London", now=noon)
    assert summary.ok and summary.days_written == 4
    today = store.sync_states(ZAPPI, Resolution.MINUTE, day, day)[day]
    assert not today.final and (today.records, today.expected) == (720 - len(gone), 720)
    assert today.missing == len(gone) < len(lacking)
    hours = store.sync_states(ZAPPI, Resolution.HOUR, day, day)[day]
    assert (hours.records, hours.expected, hours.missing) == (12, 12, 0)
    # a day that is over counts every gap it has
    past = store.sync_states(ZAPPI, Resolution.MINUTE, yesterday, yesterday)[yesterday]
    assert past.final and past.expected == 1440
    assert past.missing == len(sim.household.quirks(yesterday).missing_minutes)
    # and so does today once it is over (settled): the gaps after noon count now
    sim.set_now(NOW)
    again = await sync_zappi(client, store, ZAPPI, yesterday, day, "Europe/London", now=NOW)
    assert again.ok and {p.day for p in again.planned} == {day}
    done = store.sync_states(ZAPPI, Resolution.MINUTE, day, day)[day]
    assert done.final and (done.records, done.expected) == (1440 - len(lacking), 1440)
    assert done.missing == len(lacking)


class FullDayMinutes:
    """A source that asks for whole UTC days (``cgi-jday-Z<sn>-Y-M-D``), like other tools do.

    Those answers sometimes carry 1,441 records: the next day's 00:00 repeated.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    async def local_day(self, serial: str, day: date, tz: str, resolution: Resolution) -> History:
        assert tz == "UTC" and resolution is Resolution.MINUTE
        return await self.client.minute_history(serial, day)

    async def hour_history(
        self, serial: str, day: date, *, start_hour: int | None = None, count: int | None = None
    ) -> History:
        raise AssertionError("minutes only")


async def test_a_1441_record_day_stores_1440_rows(
    sim: Simulator, client: Client, store: Store
) -> None:
    day = next(
        sim.household.find_days(
            date(2024, 1, 1), date(2024, 12, 1), lambda q: q.extra_record and not q.missing_minutes
        )
    )
    served = sim.household.day_minutes(day, ZAPPI)
    assert len(served) == 1441
    source = FullDayMinutes(client)
    summary = await sync_zappi(source, store, ZAPPI, day, day, "UTC", [Resolution.MINUTE], now=NOW)
    assert summary.ok and summary.records_written == 1440
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert len(store.history(ZAPPI, Resolution.MINUTE, start, start + timedelta(days=1))) == 1440
    assert store.count_history(ZAPPI, Resolution.MINUTE) == 1440  # nothing of the next day
    state = store.sync_states(ZAPPI, Resolution.MINUTE, day, day)[day]
    assert state.records == state.expected == 1440 and state.missing == 0
    # the next day, synced on its own, brings its 00:00 once
    nxt = day + timedelta(days=1)
    await sync_zappi(source, store, ZAPPI, nxt, nxt, "UTC", [Resolution.MINUTE], now=NOW)
    nxt_quirks = sim.household.quirks(nxt)
    assert store.count_history(ZAPPI, Resolution.MINUTE) == 2880 - len(nxt_quirks.missing_minutes)


async def test_politeness_rate_and_concurrency_hold(sim: Simulator, store: Store) -> None:
    async with make_client(sim, rate_limit_per_s=20.0, max_concurrency=2) as c:
        summary = await sync_zappi(
            c,
            store,
            ZAPPI,
            WINTER,
            WINTER + timedelta(days=11),
            "Europe/London",
            now=NOW,
            concurrency=8,
        )
    assert summary.ok
    assert sim.stats.max_per_second <= 21
    assert sim.stats.max_concurrent <= 2
