"""End to end: the client against the simulator, a real HTTP server on 127.0.0.1.

The simulator speaks the wire format on its own (it imports neither the client nor the models), so
a misunderstanding shared by both cannot hide here. Retries run without waits (stamina test mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import stamina

from zapledger.client import Client
from zapledger.exceptions import (
    AuthenticationError,
    BadResponseError,
    CloudTimeoutError,
    CommandError,
    RateLimitedError,
    ServerError,
)
from zapledger.models import History, Resolution
from zapledger.simulator import Faults, Simulator

HUB = "10099999"
KEY = "sim-Key-0123456789"
Z1, Z2 = "16000001", "16000002"
#: The simulator's frozen clock; the days below are well in its past, so they are complete.
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
LONDON_SPRING = date(2026, 3, 29)
LONDON_FALL = date(2026, 10, 25)
PLAIN_DAY = date(2026, 7, 14)
UTC_PLAIN_DAY = (datetime(2026, 7, 14, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC))


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=1, hub_serial=HUB, api_key=KEY, zappi_serials=(Z1, Z2), now=NOW) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(
        HUB, KEY, director_url=sim.url, rate_limit_per_s=None, adaptive=False, timeout_s=10
    ) as c:
        yield c


def complete(history: History, window: tuple[datetime, datetime]) -> None:
    """Every period of the window is either a record or counted missing; nothing outside."""
    start, end = window
    expected = (end - start) // timedelta(seconds=history.resolution.seconds)
    assert len(history.records) + history.missing == expected
    assert all(start <= r.timestamp < end for r in history.records)
    stamps = [r.timestamp for r in history.records]
    assert stamps == sorted(set(stamps))
    assert len(history.records) >= expected * 0.8  # the simulator's quirks lose only a few


async def test_status(client: Client, sim: Simulator) -> None:
    site = await client.site_status()
    assert [z.serial for z in site.zappis] == [Z1, Z2]
    assert await client.zappi_serials() == [Z1, Z2]
    second = await client.zappi_status(Z2)
    assert second.serial == Z2
    names = await client.app_names()
    assert names[f"Z{Z1}"]
    assert client.base_url.startswith("http://127.0.0.1")


async def test_hour_day(client: Client) -> None:
    history = await client.hour_history(Z1, PLAIN_DAY)
    assert history.serial == Z1 and history.resolution is Resolution.HOUR
    complete(history, UTC_PLAIN_DAY)
    assert sum(r.import_j + r.generation_j for r in history.records) > 0


async def test_minute_day(client: Client) -> None:
    history = await client.minute_history(Z1, PLAIN_DAY)
    assert history.resolution is Resolution.MINUTE
    complete(history, UTC_PLAIN_DAY)


#: London local days as UTC windows, written out by hand (GMT in winter, BST = UTC+1 in summer).
LONDON_WINDOWS = {
    LONDON_SPRING: (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, tzinfo=UTC)),
    LONDON_FALL: (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 26, 0, tzinfo=UTC)),
    PLAIN_DAY: (datetime(2026, 7, 13, 23, tzinfo=UTC), datetime(2026, 7, 14, 23, tzinfo=UTC)),
}


@pytest.mark.parametrize(
    ("day", "hours"), [(LONDON_SPRING, 23), (LONDON_FALL, 25), (PLAIN_DAY, 24)]
)
async def test_local_dst_day_hourly(client: Client, day: date, hours: int) -> None:
    history = await client.local_day(Z1, day, "Europe/London", Resolution.HOUR)
    window = LONDON_WINDOWS[day]
    assert window[1] - window[0] == timedelta(hours=hours)
    complete(history, window)


async def test_local_fall_back_day_in_minutes(client: Client) -> None:
    history = await client.local_day(Z1, LONDON_FALL, "Europe/London", Resolution.MINUTE)
    complete(history, LONDON_WINDOWS[LONDON_FALL])


async def test_asn_change_is_followed(client: Client, sim: Simulator) -> None:
    await client.site_status()
    before = client.base_url
    sim.move_account()
    await client.site_status()
    await client.hour_history(Z1, PLAIN_DAY)
    assert client.base_url != before
    assert client.base_url.startswith("http://")


async def test_wrong_key_is_an_authentication_error(sim: Simulator) -> None:
    async with Client(
        HUB, "not-the-key", director_url=sim.url, rate_limit_per_s=None, adaptive=False
    ) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.site_status()
    assert "not-the-key" not in str(info.value)


@pytest.mark.parametrize("kind", ["429", "500", "503", "html", "html502", "truncated"])
async def test_transient_faults_are_retried(client: Client, sim: Simulator, kind: str) -> None:
    await client.site_status()
    sim.fail_next(kind, 2)
    history = await client.hour_history(Z1, PLAIN_DAY)
    complete(history, UTC_PLAIN_DAY)


async def test_faults_that_persist_surface_as_typed_errors(sim: Simulator) -> None:
    async with Client(
        HUB,
        KEY,
        director_url=sim.url,
        rate_limit_per_s=None,
        adaptive=False,
        max_attempts=2,
        throttle_patience_s=0,  # a 429 is waited out only this long
    ) as client:
        await client.site_status()
        sim.fail_next("429", 1)
        with pytest.raises(RateLimitedError) as info:
            await client.site_status()
        assert info.value.retry_after_s is not None
        sim.fail_next("503", 2)
        with pytest.raises(ServerError):
            await client.app_names()


async def test_commands_decode_the_simulated_answers(client: Client) -> None:
    assert (await client.command(f"/cgi-zappi-mode-Z{Z1}-3-0-0-0000"))["status"] == 0
    assert await client.command(f"/cgi-set-min-green-Z{Z1}-40") == {"mgl": 40}
    with pytest.raises(CommandError) as info:
        await client.command(f"/cgi-set-min-green-Z{Z1}-0")
    assert (info.value.code, info.value.meaning) == (-14, "invalid parameter")


async def test_a_timeout_is_retried_and_then_typed() -> None:
    with Simulator(
        hub_serial=HUB, api_key=KEY, zappi_serials=(Z1,), now=NOW, faults=Faults(timeout_s=2.0)
    ) as sim:
        async with Client(
            HUB,
            KEY,
            director_url=sim.url,
            rate_limit_per_s=None,
            adaptive=False,
            timeout_s=0.3,
            max_attempts=2,
        ) as client:
            await client.site_status()
            sim.fail_next("timeout", 1)
            complete(await client.hour_history(Z1, PLAIN_DAY), UTC_PLAIN_DAY)
            sim.fail_next("timeout", 2)
            with pytest.raises(CloudTimeoutError):
                await client.hour_history(Z1, PLAIN_DAY)


async def test_spurious_401_and_stale_nonces_are_survived() -> None:
    with Simulator(
        hub_serial=HUB, api_key=KEY, zappi_serials=(Z1,), now=NOW, nonce_ttl_s=0.05
    ) as sim:
        async with Client(
            HUB, KEY, director_url=sim.url, rate_limit_per_s=None, adaptive=False
        ) as client:
            await client.site_status()
            sim.fail_next("401", 1)
            await client.site_status()
            await asyncio.sleep(0.1)  # the nonce the client holds is now stale
            await client.zappi_status(Z1)


async def test_a_corrupt_day_ends_in_bad_response(client: Client, sim: Simulator) -> None:
    sim.corrupt_day(PLAIN_DAY, "truncated")
    with pytest.raises(BadResponseError) as info:
        await client.hour_history(Z1, PLAIN_DAY)
    assert info.value.endpoint == f"cgi-jdayhour-Z{Z1}-{PLAIN_DAY.year}-7-14"


async def test_a_backfill_through_random_faults_and_moves() -> None:
    faults = Faults.parse("500=0.05,503=0.05,429=0.05,html=0.03,truncated=0.03,asn-change=7")
    with Simulator(
        seed=3, hub_serial=HUB, api_key=KEY, zappi_serials=(Z1,), now=NOW, faults=faults
    ) as sim:
        async with Client(
            HUB, KEY, director_url=sim.url, rate_limit_per_s=None, adaptive=False, max_attempts=10
        ) as client:
            days = [PLAIN_DAY + timedelta(days=i) for i in range(8)]
            histories = await asyncio.gather(
                *(client.local_day(Z1, d, "Europe/London", Resolution.HOUR) for d in days)
            )
            for day, history in zip(days, histories, strict=True):
                midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
                # a July day in London is BST: 23:00 UTC the evening before, 24 hours
                complete(history, (midnight - timedelta(hours=1), midnight + timedelta(hours=23)))
        stats = sim.stats
    assert stats.account_moves >= 2
    assert sum(stats.faults.values()) >= 1


async def test_politeness_as_the_server_sees_it() -> None:
    with Simulator(hub_serial=HUB, api_key=KEY, zappi_serials=(Z1,), now=NOW, latency_ms=30) as sim:
        async with Client(
            HUB, KEY, director_url=sim.url, rate_limit_per_s=8.0, max_concurrency=2
        ) as client:
            await client.site_status()
            sim.reset_stats()
            days = [PLAIN_DAY + timedelta(days=i) for i in range(12)]
            await asyncio.gather(*(client.hour_history(Z1, d) for d in days))
        stats = sim.stats
    assert stats.total == 12
    assert stats.max_concurrent <= 2
    assert stats.max_per_second <= 9  # 8 per second, evenly spaced, plus the window's edge
