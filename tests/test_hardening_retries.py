"""Retry notices: one friendly line each without -v, stamina's record only with -v."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from zapledger.cli import main
from zapledger.cli._logs import setup_logging
from zapledger.simulator import Simulator

HUB = "10088888"
KEY = "retry-notice-key-7"


@pytest.fixture
def busy_cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY) as sim:
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
        monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
        sim.fail_next("503", count=2)
        with stamina.set_testing(True, attempts=5):  # retries without their waits
            yield sim
    setup_logging(False)


def test_a_retry_is_one_friendly_line(
    busy_cloud: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 0
    err = capsys.readouterr().err
    assert [line.split(" in ")[0] for line in err.splitlines()] == ["cloud busy, retrying"] * 2
    assert "stamina" not in err


def test_verbose_shows_stamina_records(
    busy_cloud: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-v", "status", "--json"]) == 0
    err = capsys.readouterr().err
    assert "stamina.retry_scheduled" in err
    assert "cloud busy" not in err and KEY not in err
