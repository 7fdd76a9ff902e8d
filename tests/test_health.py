"""A zappi that stopped reporting: ``zapledger health`` exit codes and the ``status`` warning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from zapledger.cli import main
from zapledger.client import Client
from zapledger.health import HealthState, check_health
from zapledger.simulator import Simulator

HUB = "10033333"
KEY = "health-key-1618"
ZAPPI = "16000001"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(seed=6, hub_serial=HUB, api_key=KEY) as s:  # the real clock: reporting
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", s.url)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
        monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
        monkeypatch.setattr("zapledger.cli._common.CLIENT_OPTIONS", {"max_attempts": 1})
        yield s


def stop_reporting(sim: Simulator, minutes: float) -> datetime:
    """The zappi's clock stops ``minutes`` ago; the cloud keeps answering."""
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    sim.set_now(last)
    return last


async def test_the_check_judges_each_zappi_by_its_reading_time(sim: Simulator) -> None:
    async with Client(HUB, KEY, director_url=sim.url) as client:
        fresh = await check_health(client)
        last = stop_reporting(sim, 20)
        stale = await check_health(client, stale_after=timedelta(minutes=15))
        lenient = await check_health(client, stale_after=timedelta(minutes=30))
    assert fresh.state is HealthState.OK and [z.serial for z in fresh.zappis] == [ZAPPI]
    assert stale.state is HealthState.STALE
    assert stale.zappis[0].reading_at == last
    lag = stale.zappis[0].lag
    assert lag is not None and timedelta(minutes=20) <= lag < timedelta(minutes=21)
    assert lenient.state is HealthState.OK


def test_health_exits_0_while_the_zappi_reports(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["health"]) == 0
    assert f"zappi {ZAPPI}: reporting" in capsys.readouterr().out


def test_health_exits_1_when_the_zappi_stopped_reporting(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    stop_reporting(sim, 20)
    assert main(["health"]) == 1
    assert "stopped reporting to the cloud" in capsys.readouterr().out
    assert main(["health", "--stale-after", "3600"]) == 0


def test_health_exits_5_when_the_cloud_cannot_be_reached(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.stop()
    assert main(["health"]) == 5
    assert main(["health", "--stale-after", "0"]) == 2


def test_status_says_when_the_zappi_stopped_reporting(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    assert "stopped reporting" not in capsys.readouterr().out
    stop_reporting(sim, 45)
    assert main(["status"]) == 0
    assert "stopped reporting to the cloud" in capsys.readouterr().out.replace("\n", " ")
