"""The collector daemon, with short intervals, against the simulator."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time as _time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zapledger.client import Client
from zapledger.collect import (
    CollectorConfig,
    CollectorStats,
    config_warnings,
    last_settled_day,
    next_daily,
    next_period,
    run_collector,
)
from zapledger.localtime import local_day_window
from zapledger.models import Resolution
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

HUB = "10044444"
KEY = "collector-key-31415"
ZAPPI = "16000001"
TZ = "Europe/London"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=4, hub_serial=HUB, api_key=KEY) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(
        HUB,
        KEY,
        director_url=sim.url,
        rate_limit_per_s=None,
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
    status_interval_s=0.2,
    hour_period_s=0.5,
    hour_delay_s=0.0,
    minute_period_s=0.5,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    since=date.today() - timedelta(days=3),
)


async def collect_for(
    client: Client, store: Store, seconds: float, config: CollectorConfig = FAST
) -> CollectorStats:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await asyncio.wait_for(run_collector(client, store, config, stop), seconds + 10)


async def test_collects_status_hours_and_settled_minutes(
    client: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapledger")
    stats = await collect_for(client, store, 1.2)
    assert stats.statuses >= 4 and stats.problems == 0
    assert stats.hour_syncs >= 2 and stats.minute_syncs >= 2
    now = datetime.now(UTC)
    assert len(store.statuses(ZAPPI, now - timedelta(hours=1), now + timedelta(hours=1))) >= 1
    today = now.astimezone(ZoneInfo(TZ)).date()
    hour_states = store.sync_states(ZAPPI, Resolution.HOUR, FAST.since or today, today)
    assert today in hour_states and not hour_states[today].final
    minute_states = store.sync_states(ZAPPI, Resolution.MINUTE, FAST.since or today, today)
    settled = last_settled_day(TZ, now)
    assert max(minute_states) == settled and all(s.final for s in minute_states.values())
    text = caplog.text
    assert "more often than every 30 s" in text  # the warning for a short status interval
    assert KEY not in text


async def test_an_outage_is_logged_once_per_problem_and_survived(
    sim: Simulator, client: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapledger.collect")
    sim.fail_next("500", count=10_000)
    stop = asyncio.Event()
    task = asyncio.create_task(run_collector(client, store, FAST, stop))
    await asyncio.sleep(0.8)
    problems = [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.message]
    assert problems, "the outage should be logged"
    assert all("\n" not in r.getMessage() for r in problems)
    assert all("retrying in" in r.getMessage() for r in problems)
    assert not task.done()  # still running
    sim.clear_faults()
    count = store.count_history(ZAPPI, Resolution.HOUR)
    await asyncio.sleep(1.2)
    stop.set()
    stats = await asyncio.wait_for(task, 10)
    assert stats.problems >= len(problems) >= 2
    assert stats.statuses >= 1
    assert store.count_history(ZAPPI, Resolution.HOUR) > count
    assert KEY not in caplog.text


async def test_an_auth_hiccup_does_not_stop_the_collector(
    sim: Simulator, client: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    sim.fail_next("401", count=12)
    stats = await collect_for(client, store, 1.0)
    assert "check the hub serial and API key" in caplog.text
    assert stats.statuses >= 1


async def test_the_simulator_going_away_is_survived(
    client: Client, store: Store, caplog: pytest.LogCaptureFixture, sim: Simulator
) -> None:
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    sim.stop()
    stats = await collect_for(client, store, 0.8)
    assert stats.problems >= 2 and stats.statuses == 0
    assert "CloudConnectionError" in caplog.text


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
            "--rate",
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
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapledger.collect")
    with Simulator(
        seed=4, hub_serial=HUB, api_key=KEY, zappi_serials=("16000001", "16000002")
    ) as two:
        bad = date.today() - timedelta(days=3)
        two.corrupt_day(bad, "html")
        async with Client(
            HUB, KEY, director_url=two.url, rate_limit_per_s=None, max_attempts=1
        ) as c:
            config = CollectorConfig(
                tz="UTC",
                serials=("16000002",),
                status_interval_s=0.2,
                hour_period_s=3600,
                since=bad,
                backoff_initial_s=0.05,
            )
            stats = await collect_for(c, store, 0.8, config)
    now = datetime.now(UTC)
    assert store.statuses("16000001", now - timedelta(hours=1), now) == []
    assert len(store.statuses("16000002", now - timedelta(hours=1), now)) >= 1
    assert stats.minute_syncs == 1 and stats.hour_syncs == 1  # then waiting for the night
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
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zapledger.collect")
    broken = Broken()
    stats = await collect_for(broken, store, 0.5)  # type: ignore[arg-type]
    assert broken.calls >= 3 and stats.problems >= 3
    assert "failed unexpectedly: RuntimeError: boom" in caplog.text
