"""``zapledger sync`` and ``zapledger gaps`` in-process against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import stamina

from zapledger.cli import main
from zapledger.models import Resolution
from zapledger.simulator import Simulator
from zapledger.store import open_store

HUB = "10055555"
KEY = "cli-test-key-77aa"
NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(seed=2, hub_serial=HUB, api_key=KEY, now=NOW) as s:
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", s.url)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
        monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
        monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
        monkeypatch.setenv("ZAPLEDGER_TZ", "Europe/London")
        # the caps at once, no learning: these tests are about the commands (tests/test_pacing*)
        monkeypatch.setattr("zapledger.cli._common.CLIENT_OPTIONS", {"adaptive": False})
        yield s


def zl(*args: str) -> int:
    return main(list(args))


SYNC = ("sync", "--since", "2024-01-08", "--until", "2024-01-14", "--max-rate", "100")


def test_sync_then_gaps(sim: Simulator, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert zl(*SYNC) == 0
    out = capsys.readouterr().out
    assert "zappi 16000001: 14 day(s) stored" in out
    assert KEY not in out
    assert zl("gaps", "--all") == 0
    out = capsys.readouterr().out
    assert "Data quality" in out and "2024-01-08" in out and "2024-01-14" in out
    assert "7 day(s)" in out
    assert zl("gaps", "--json", "--all", "--since", "2024-01-09") == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["days"]) == 6 and report["tz"] == "Europe/London"
    assert report["totals"]["hours_compared"] > 100
    # a rerun without --since starts at the first synced day and finds nothing to do
    assert zl("sync", "--until", "2024-01-14", "--max-rate", "100") == 0
    assert "up to date" in capsys.readouterr().out


def test_sync_of_one_resolution(sim: Simulator, tmp_path: Path) -> None:
    assert zl(*SYNC, "--hourly") == 0
    with open_store(f"sqlite:///{tmp_path / 'cli.sqlite3'}") as store:
        assert store.count_history(None, Resolution.MINUTE) == 0
        assert store.count_history(None, Resolution.HOUR) > 150
    assert zl(*SYNC, "--minute", "--serial", "16000001") == 0
    with open_store(f"sqlite:///{tmp_path / 'cli.sqlite3'}") as store:
        assert store.count_history(None, Resolution.MINUTE) > 9000


def test_a_failed_day_gives_exit_code_1(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    stamina.set_testing(True, attempts=1000, cap=True)  # retries without their waits
    try:
        _failed_day(sim, capsys)
    finally:
        stamina.set_testing(False)


def _failed_day(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.corrupt_day(date(2024, 1, 10), "html")
    assert zl(*SYNC) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "2024-01-10" in out
    assert zl("gaps") == 0
    out = capsys.readouterr().out
    assert "failed 2024-01-10 minute: cgi-jday" in " ".join(out.split())


def test_dry_run_shows_the_plan(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert zl(*SYNC, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would fetch 14 day(s) (14 missing)" in out
    assert sim.stats.by_kind.get("jday", 0) == 0


def test_dry_run_lists_at_most_a_screenful(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert zl("sync", "--since", "2024-01-01", "--until", "2024-02-01", "--dry-run") == 0
    assert "… and 44 more" in capsys.readouterr().out


def test_usage_errors(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert zl("sync") == 2  # nothing synced yet: --since is needed
    assert "say which day to start from" in capsys.readouterr().err
    assert zl("sync", "--since", "2024-01-10", "--until", "2024-01-01") == 2
    assert zl("sync", "--since", "2024-01-10", "--max-rate", "0") == 2
    assert zl("sync", "--since", "10/01/2024") == 2


def test_gaps_of_an_empty_database(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert zl("gaps") == 0
    assert "no history stored yet" in capsys.readouterr().out


def test_sync_without_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert zl("sync", "--since", "2024-01-01", "--tz", "UTC") == 3


def test_every_zappi_of_the_hub_and_today(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Simulator(
        seed=2, hub_serial=HUB, api_key=KEY, zappi_serials=("16000001", "16000002")
    ) as s:
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", s.url)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
        monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
        monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{tmp_path / 'two.sqlite3'}")
        yesterday = (date.today() - timedelta(days=1)).isoformat()
        assert zl("sync", "--since", yesterday, "--tz", "UTC", "--max-rate", "100") == 0
        out = capsys.readouterr().out
        assert "zappi 16000001:" in out and "zappi 16000002:" in out and "not final" in out
        assert zl("gaps", "--all", "--tz", "UTC") == 0
        out = capsys.readouterr().out
        assert "Zappi" in out and "not final" in out
        monkeypatch.setenv("ZAPLEDGER_ZAPPI_SERIAL", "16000002")
        assert zl("sync", "--tz", "UTC", "--max-rate", "100", "--hourly") == 0
        out = capsys.readouterr().out
        assert "16000001" not in out and "zappi 16000002:" in out


def test_collect_runs_until_sigterm(
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging
    import os
    import signal
    import threading
    import time

    db = tmp_path / "cli.sqlite3"

    def stop_once_hours_are_stored() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not done.wait(0.05):
            if db.exists():
                with open_store(f"sqlite:///{db}") as store:
                    if store.count_history(None, Resolution.HOUR):
                        break
        os.kill(os.getpid(), signal.SIGTERM)

    done = threading.Event()
    with Simulator(seed=2, hub_serial=HUB, api_key=KEY) as live:  # the real clock, like the CLI
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", live.url)
        timer = threading.Thread(target=stop_once_hours_are_stored)
        timer.start()
        since = (date.today() - timedelta(days=2)).isoformat()
        try:
            code = zl(
                "collect",
                "--status-interval",
                "0.3",
                "--nightly-at",
                "03:00",
                "--since",
                since,
                "--rate",
                "100",
            )
        finally:
            done.set()
            timer.join()
            for handler in logging.getLogger("zapledger").handlers[:]:
                logging.getLogger("zapledger").removeHandler(handler)
            logging.getLogger("zapledger").setLevel(logging.NOTSET)
    assert code == 0
    err = capsys.readouterr().err
    assert "collecting: status every 0.3 s" in err and "stopped:" in err
    with open_store(f"sqlite:///{db}") as store:
        assert store.count_history(None, Resolution.HOUR) > 0


def test_collect_usage_errors(sim: Simulator) -> None:
    assert zl("collect", "--nightly-at", "7 o'clock") == 2
    assert zl("collect", "--status-interval", "0") == 2


def test_the_old_rate_flags_still_work_with_a_note(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("sync", "--from", "2024-01-08", "--to", "2024-01-08", "--hourly")
    assert zl(*args, "--rate", "100", "--concurrency", "2") == 0
    err = capsys.readouterr().err
    assert "note: --rate is deprecated, use --max-rate" in err
    assert "note: --concurrency is deprecated, use --max-concurrency" in err
    assert zl(*args, "--max-rate", "100", "--max-concurrency", "2") == 0
    assert "deprecated" not in capsys.readouterr().err
