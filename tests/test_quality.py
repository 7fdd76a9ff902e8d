"""The data-quality table, checked against the simulator's known quirks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from zapledger.backfill import sync_zappi
from zapledger.client import Client
from zapledger.localtime import local_days
from zapledger.models import Energy, EnergyBucket, History, HistoryRecord, Resolution
from zapledger.quality import DayQuality, compare_hours, data_quality
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

HUB = "10033333"
KEY = "quality-key-2718"
ZAPPI = "16000001"
NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)
SINCE, UNTIL = date(2024, 2, 1), date(2024, 3, 10)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Path]]:
    """Thirty-nine UTC days synced once for the whole module (reads only below)."""
    import asyncio

    db = tmp_path_factory.mktemp("quality") / "q.sqlite3"
    with Simulator(seed=11, hub_serial=HUB, api_key=KEY, now=NOW) as sim:

        async def fill() -> None:
            async with Client(
                HUB, KEY, director_url=sim.url, rate_limit_per_s=None, adaptive=False
            ) as c:
                with open_store(f"sqlite:///{db}") as store:
                    summary = await sync_zappi(c, store, ZAPPI, SINCE, UNTIL, "UTC", now=NOW)
                    assert summary.ok

        asyncio.run(fill())
        yield sim, db


@pytest.fixture
def store(synced: tuple[Simulator, Path]) -> Iterator[Store]:
    with open_store(f"sqlite:///{synced[1]}") as s:
        yield s


def test_the_table_finds_what_the_simulator_put_in(
    synced: tuple[Simulator, Path], store: Store
) -> None:
    sim = synced[0]
    report = data_quality(store, None, None, "UTC")
    assert [d.day for d in report.days] == local_days(SINCE, UNTIL)
    drifted = garbage = 0
    for d in report.days:
        q = sim.household.quirks(d.day)
        assert d.missing_minutes == len(q.missing_minutes)
        assert d.missing_hours == (1 if q.outage_hour is not None else 0)
        bad = [m for m, (v1, frq) in q.garbage.items() if v1 or frq]
        assert d.suspect == len(bad)
        assert d.voltage_suspect == sum(1 for m in bad if q.garbage[m][0])
        assert d.frequency_suspect == sum(1 for m in bad if q.garbage[m][1])
        garbage += d.suspect
        # drift is detected in every hour that has all its minutes
        gappy_hours = {m // 60 for m in q.missing_minutes}
        expected = sorted(h for h in q.hour_drift if h not in gappy_hours)
        assert sorted(m.start.hour for m in d.mismatches) == expected, d.day
        assert d.hours_compared == 24 - len(gappy_hours)
        drifted += len(expected)
        assert d.final and not d.errors
        assert bool(d.problems) == bool(
            q.missing_minutes or bad or expected or q.outage_hour is not None
        )
    assert drifted > 5 and garbage > 5  # the period does hold quirks
    totals = report.totals
    assert totals["days"] == 39 and totals["hours_disagreeing"] == drifted
    assert totals["problem_days"] == len(report.problem_days) > 0


def test_since_until_and_serials(store: Store) -> None:
    report = data_quality(store, date(2024, 1, 30), date(2024, 2, 2), "UTC")
    assert [d.day for d in report.days] == local_days(date(2024, 1, 30), date(2024, 2, 2))
    assert report.days[0].problems == ("not synced",)
    assert report.days[0].missing_minutes is None and not report.days[0].final
    assert data_quality(store, None, None, "UTC", serial="99999999").days == ()
    # days stored for one zone are not mixed into a table of another
    assert data_quality(store, None, None, "Europe/Amsterdam").days == ()


def _hour(ts: datetime, **energy: int) -> HistoryRecord:
    return HistoryRecord(ts, 3600, **energy)


def _row(ts: datetime, records: int = 60, **energy: int) -> EnergyBucket:
    return EnergyBucket(ts, records, Energy(**energy))


def test_compare_hours_tolerances() -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    t1, t2 = t0 + timedelta(hours=1), t0 + timedelta(hours=2)
    hours = [
        _hour(t0, import_j=100_000),
        _hour(t1, import_j=100_500, diverted_h1_j=7),
        _hour(t2, import_j=5),
    ]
    sums = [
        _row(t0, import_j=100_000),
        _row(t1, import_j=100_000, diverted_j=7),
        _row(t2, records=59, import_j=1),
    ]
    compared, bad = compare_hours(hours, sums)
    assert compared == 2 and [m.start for m in bad] == [t1]
    assert bad[0].fields == {"import_j": (100_500, 100_000)} and bad[0].worst_diff_j == 500
    assert compare_hours(hours, sums, tolerance_j=500)[1] == []
    assert compare_hours(hours, sums, tolerance_ratio=0.01)[1] == []


def test_day_quality_problems_words() -> None:
    day = DayQuality("1", date(2024, 1, 1), None, None)
    assert day.problems == ("not synced",) and day.duplicates_dropped == 0 and day.suspect == 0
    assert day.errors == ()
    empty = History("1", Resolution.MINUTE, ())
    assert empty.missing == 0
