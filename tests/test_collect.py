"""The collector daemon, with short intervals, against the simulator."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import os
import signal
import subprocess
import sys
import time as _time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zapledger.client import Client
from zapledger.collect import (
    CollectorConfig,
    CollectorSource,
    CollectorStats,
    config_warnings,
    last_settled_day,
    next_daily,
    next_period,
    run_collector,
)
from zapledger.localtime import local_day_window
from zapledger.models import Resolution, SiteStatus, decode_status
from zapledger.pacing import Outcome, Pacing, ServerLimits
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

HUB = "10044444"
KEY = "collector-key-31415"
ZAPPI = "16000001"
TZ = "Europe/London"


class VirtualClock:
    """Time that moves only when the test moves it: to the next moment a loop waits for."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self._waiters: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        # whole microseconds, rounded up: a wait always moves the clock on
        wake = self.t + timedelta(microseconds=math.ceil(seconds * 1e6))
        heapq.heappush(self._waiters, (wake, self._seq, future))
        await future

    def waiting(self) -> int:
        return sum(not f.done() for _, _, f in self._waiters)

    def wake_next(self) -> None:
        while self._waiters:
            when, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self.t = max(self.t, when)
                future.set_result(None)
                return


async def drive(
    clock: VirtualClock, until: Callable[[], bool], *, loops: int = 3, bound_s: float = 30.0
) -> None:
    """Move the clock, each time all ``loops`` wait on it, until ``until()`` holds (bounded)."""
    deadline = _time.monotonic() + bound_s
    while not until():
        while clock.waiting() < loops:
            assert _time.monotonic() < deadline, f"never got there ({clock.waiting()} waiting)"
            await asyncio.sleep(0.002)  # let the loops run: a yield, not a timed wait
        clock.wake_next()


class Running:
    """A collector in a task, with its clock and live statistics."""

    def __init__(
        self, client: CollectorSource, store: Store, config: CollectorConfig, clock: VirtualClock
    ) -> None:
        self.clock = clock
        self.stats = CollectorStats()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            run_collector(client, store, config, self.stop, clock=clock, stats=self.stats)
        )

    async def until(self, condition: Callable[[CollectorStats], bool]) -> CollectorStats:
        await drive(self.clock, lambda: condition(self.stats))
        return self.stats

    async def finish(self) -> CollectorStats:
        self.stop.set()
        return await asyncio.wait_for(self.task, 10)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def sim(clock: VirtualClock) -> Iterator[Simulator]:
    with Simulator(seed=4, hub_serial=HUB, api_key=KEY, now=clock.now) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(
        HUB,
        KEY,
        director_url=sim.url,
        rate_limit_per_s=None,
        adaptive=False,
        max_attempts=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        timeout_s=5,
    ) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'collect.sqlite3'}") as s:
        yield s


FAST = CollectorConfig(
    tz=TZ,
    status_interval_s=20,
    hour_period_s=600,
    hour_delay_s=0.0,
    minute_period_s=600,
    backoff_initial_s=5,
    backoff_max_s=60,
    since=date.today() - timedelta(days=3),
)


async def test_collects_status_hours_and_settled_minutes(
    client: Client, store: Store, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapledger")
    run = Running(client, store, FAST, clock)
    await run.until(lambda s: s.statuses >= 4 and s.hour_syncs >= 2 and s.minute_syncs >= 2)
    stats = await run.finish()
    assert stats.problems == 0
    now = clock.now()
    assert len(store.statuses(ZAPPI, now - timedelta(hours=1), now + timedelta(hours=1))) >= 4
    today = now.astimezone(ZoneInfo(TZ)).date()
    hour_states = store.sync_states(ZAPPI, Resolution.HOUR, FAST.since or today, today)
    assert today in hour_states and not hour_states[today].final
    minute_states = store.sync_states(ZAPPI, Resolution.MINUTE, FAST.since or today, today)
    settled = last_settled_day(TZ, now)
    assert max(minute_states) == settled and all(s.final for s in minute_states.values())
    text = caplog.text
    assert "more often than every 30 s" in text  # the warning for a short status interval
    assert KEY not in text


async def test_status_polls_follow_the_interval_of_the_clock(
    client: Client, store: Store, clock: VirtualClock
) -> None:
    config = replace(FAST, status_interval_s=60, hour_period_s=3600, minute_period_s=3600)
    run = Running(client, store, config, clock)
    await run.until(lambda s: s.statuses >= 5)
    await run.finish()
    times = [s.fetched_at for s in store.statuses(ZAPPI, clock.t - timedelta(1), clock.t)]
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {60.0}


async def test_an_outage_is_logged_once_per_problem_and_survived(
    sim: Simulator, client: Client, store: Store, clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="zapledger.collect")
    sim.fail_next("500", count=10_000)
    run = Running(client, store, FAST, clock)
    await run.until(lambda s: s.problems >= 3)
    problems = [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.message]
    assert problems, "the outage should be logged"
    assert all("\n" not in r.getMessage() for r in problems)
    assert all("retrying in" in r.getMessage() for r in problems)
    assert not run.task.done()  # still running
    sim.clear_faults()
    count = store.count_history(ZAPPI, Resolution.HOUR)
    await run.until(lambda s: s.statuses >= 1 and store.count_history(ZAPPI, Resolution.HOUR) > 0)
    stats = await run.finish()
    assert stats.problems >= len(problems) >= 2
    assert store.count_history(ZAPPI, Resolution.HOUR) > count
    assert KEY not in caplog.text


async def test_an_auth_hiccup_does_not_stop_the_collector(
    sim: Simulator, client: Client, store: Store, clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    sim.fail_next("401", count=12)
    run = Running(client, store, FAST, clock)
    await run.until(lambda s: s.statuses >= 1)
    await run.finish()
    assert "check the hub serial and API key" in caplog.text


async def test_the_simulator_going_away_is_survived(
    client: Client, store: Store, caplog: pytest.LogCaptureFixture, sim: Simulator,
    clock: VirtualClock,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    sim.stop()
    run = Running(client, store, FAST, clock)
    stats = await run.until(lambda s: s.problems >= 3)
    await run.finish()
    assert stats.statuses == 0
    assert "CloudConnectionError" in caplog.text


async def test_a_zappi_that_stopped_reporting_is_said_once_and_when_it_is_back(
    sim: Simulator, client: Client, store: Store, clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="zapledger.collect")
    frozen = clock.now()
    sim.set_now(frozen)  # the zappi's clock stops; the cloud keeps answering
    config = replace(FAST, status_interval_s=60, stale_after=timedelta(minutes=10))
    run = Running(client, store, config, clock)
    await run.until(lambda s: bool(s.stale) and s.statuses >= 15)
    assert run.stats.stale == {ZAPPI}
    warnings = [r.getMessage() for r in caplog.records if "stopped reporting" in r.getMessage()]
    assert len(warnings) == 1 and "the cloud still answers" in warnings[0]
    sim.set_now(clock.now)  # it reports again
    await run.until(lambda s: not s.stale)
    await run.finish()
    assert f"zappi {ZAPPI} reports again" in caplog.text


class Paced:
    """A client that answers the status from a fixture through a pacing on a pretend clock;
    ``throttle`` polls are answered 429 first (waited out, like the real client does)."""

    def __init__(self, payload: bytes, clock: VirtualClock) -> None:
        self.site = decode_status(payload)
        self.requests_sent = 0
        self.throttle = 0
        self.pacing = Pacing(HUB, clock=lambda: clock.t.timestamp(), sleep=clock.sleep)
        self.polled_at: list[datetime] = []
        self.clock = clock

    async def site_status(self) -> SiteStatus:
        pacer = self.pacing.server("s18.myenergi.net")
        self.polled_at.append(self.clock.t)
        if self.throttle:
            self.throttle -= 1
            pacer.release(await pacer.acquire(), Outcome.THROTTLED, 0.0)
        pacer.release(await pacer.acquire(), Outcome.CLEAN)
        return self.site

    async def local_day(self, *args: object) -> object:
        raise AssertionError("not in this test")

    async def hour_history(self, *args: object, **kw: object) -> object:
        raise AssertionError("not in this test")


#: the history loops ask no status (the zappi is named), fail at once and back off on the clock
QUIET = replace(
    FAST, serials=("12345678",), status_interval_s=60, hour_period_s=1e9, minute_period_s=1e9
)


async def test_while_throttled_the_status_backs_off_towards_five_minutes(
    store: Store, clock: VirtualClock, fixture_bytes: Callable[[str], bytes]
) -> None:
    paced = Paced(fixture_bytes("status_zappi_example.json"), clock)
    paced.throttle = 4
    run = Running(paced, store, QUIET, clock)  # type: ignore[arg-type]
    await run.until(lambda s: s.statuses >= 8)
    await run.finish()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(paced.polled_at[:8])]
    assert gaps == pytest.approx([120, 240, 300, 300, 150, 75, 60], abs=0.01)
    assert run.stats.throttled == 4


async def test_the_status_is_never_polled_faster_than_the_learned_rate(
    store: Store, clock: VirtualClock, fixture_bytes: Callable[[str], bytes]
) -> None:
    learned = ServerLimits(1 / 200, 1, 1 / 200 / 0.85, 0.3, clock.now())
    store.save_pacing_limits(HUB, {"s18.myenergi.net": learned})
    paced = Paced(fixture_bytes("status_zappi_example.json"), clock)
    run = Running(paced, store, QUIET, clock)  # type: ignore[arg-type]
    await run.until(lambda s: s.statuses >= 4)
    await run.finish()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(paced.polled_at[:4])]
    # (after 30 s of clean answers the pacing probes upwards: 1 % per answer)
    assert all(199 * 0.98 <= gap <= 200.01 for gap in gaps), gaps


def test_schedule_helpers() -> None:
    assert next_period(3599.0, 3600, 120) == 3720
    assert next_period(3720.0, 3600, 120) == 7320
    assert next_period(100.0, 3600) == 3600
    now = datetime(2024, 3, 30, 8, 0, tzinfo=UTC)
    # 07:00 London on the day of the spring-forward (31 March) is 06:00 UTC
    assert next_daily(now, time(7, 0), TZ) == datetime(2024, 3, 31, 6, 0, tzinfo=UTC)
    assert next_daily(now, time(9, 0), TZ) == datetime(2024, 3, 30, 9, 0, tzinfo=UTC)
    assert last_settled_day(TZ, datetime(2024, 1, 10, 5, 59, tzinfo=UTC)) == date(2024, 1, 8)
    assert last_settled_day(TZ, datetime(2024, 1, 10, 6, 0, tzinfo=UTC)) == date(2024, 1, 9)
    assert config_warnings(CollectorConfig(tz=TZ)) == []


async def test_bad_config_is_refused(client: Client, store: Store) -> None:
    with pytest.raises(ValueError, match="positive"):
        await run_collector(
            client, store, CollectorConfig(tz=TZ, status_interval_s=0), asyncio.Event()
        )


def _wait_for_hours_and_some_minutes(db: Path, deadline_s: float) -> None:
    """Until the daemon has stored hour history and at least one minute day (or time is up)."""
    deadline = _time.monotonic() + deadline_s
    while _time.monotonic() < deadline:
        _time.sleep(0.1)
        if not db.exists():
            continue
        with open_store(f"sqlite:///{db}") as store:
            if store.count_history(ZAPPI, Resolution.HOUR) and store.count_history(
                ZAPPI, Resolution.MINUTE
            ):
                return


def test_sigterm_stops_the_daemon_cleanly_in_the_middle_of_a_sync(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.latency_ms = 40
    db = tmp_path / "daemon.sqlite3"
    env = dict(os.environ)
    env.update(
        ZAPLEDGER_DIRECTOR_URL=sim.url,
        ZAPLEDGER_HUB_SERIAL=HUB,
        ZAPLEDGER_API_KEY=KEY,
        ZAPLEDGER_DB=f"sqlite:///{db}",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from zapledger.cli import run; run()",
            "collect",
            "--tz",
            TZ,
            "--status-interval",
            "0.2",
            "--hour-period",
            "0.5",
            "--hour-delay",
            "0",
            "--minute-period",
            "0.5",
            "--max-rate",
            "20",
            "--from",
            (date.today() - timedelta(days=60)).isoformat(),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_hours_and_some_minutes(db, deadline_s=20.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped:" in err and "status snapshot" in err
    assert KEY not in out + err
    lines = err.strip().splitlines()
    assert lines[0].split(" ", 3)[2] == "WARNING"  # the < 30 s warning comes first
    with open_store(f"sqlite:///{db}") as store:
        minutes = store.sync_states(ZAPPI, Resolution.MINUTE, date(2000, 1, 1), date.today())
        assert 0 < len(minutes) < 60, "stopped in the middle of the minute backfill"
        for day, state in minutes.items():  # every stored day is whole
            lo, hi = local_day_window(day, TZ)
            assert len(store.history(ZAPPI, Resolution.MINUTE, lo, hi)) == state.records
        assert store.count_history(ZAPPI, Resolution.HOUR) > 0


async def test_chosen_zappi_nightly_schedule_and_failed_days(
    store: Store, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapledger.collect")
    with Simulator(
        seed=4, hub_serial=HUB, api_key=KEY, zappi_serials=("16000001", "16000002"), now=clock.now
    ) as two:
        bad = date.today() - timedelta(days=3)
        two.corrupt_day(bad, "html")
        async with Client(
            HUB, KEY, director_url=two.url, rate_limit_per_s=None, adaptive=False, max_attempts=1
        ) as c:
            config = CollectorConfig(
                tz="UTC",
                serials=("16000002",),
                status_interval_s=60,
                hour_period_s=3600,
                since=bad,
                backoff_initial_s=5,
            )
            run = Running(c, store, config, clock)
            # ten minutes: the first hour and minute syncs, then the minutes wait for the night
            stats = await run.until(lambda s: s.statuses >= 10)
            await run.finish()
    now = clock.now()
    assert store.statuses("16000001", now - timedelta(hours=1), now) == []
    assert len(store.statuses("16000002", now - timedelta(hours=1), now)) >= 1
    assert stats.minute_syncs == 1 and stats.hour_syncs >= 1  # minutes wait for the night
    assert f"history of 16000002 for {bad} failed" in caplog.text
    assert "nightly at 07:00 UTC" in caplog.text


class Broken:
    """A client with a bug: the collector logs it with its traceback and carries on."""

    requests_sent = 0

    def __init__(self) -> None:
        self.calls = 0

    async def site_status(self) -> object:
        self.calls += 1
        raise RuntimeError("boom")

    async def local_day(self, *args: object) -> object:
        raise RuntimeError("boom")

    async def hour_history(self, *args: object, **kw: object) -> object:
        raise RuntimeError("boom")


async def test_an_unexpected_error_is_logged_and_retried(
    store: Store, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    broken = Broken()
    run = Running(broken, store, FAST, clock)  # type: ignore[arg-type]
    stats = await run.until(lambda s: broken.calls >= 3)
    await run.finish()
    assert stats.problems >= 3
    assert "failed unexpectedly: RuntimeError: boom" in caplog.text
