"""The rules of the Home Assistant import on small hand-made histories, and its errors.

Every expected sum here is written out by hand from the joules stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import typer

from ha_server import TOKEN, FakeHomeAssistant
from zapledger.cli import main
from zapledger.cli._common import state
from zapledger.cli._ha import collector_hook
from zapledger.client import Client
from zapledger.collect import CollectorConfig, run_collector
from zapledger.exceptions import ConfigError, UsageError
from zapledger.integrations.ha_statistics import HaImportReport, import_statistics
from zapledger.integrations.ha_ws import (
    HaAuthenticationError,
    HaCommandError,
    ha_session,
    read_token,
    websocket_url,
)
from zapledger.models import History, Resolution, parse_history
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

SERIAL = "16000001"
OTHER = "16000002"
TZ = "UTC"
KWH = 3_600_000
DAY1, DAY2 = date(2025, 6, 1), date(2025, 6, 2)


def hour(day: date, hr: int, **kwh: int) -> dict[str, int | str]:
    """One wire hour record; energies given in whole kWh."""
    record: dict[str, int | str] = {"yr": day.year, "mon": day.month, "dom": day.day, "hr": hr}
    return record | {key: value * KWH for key, value in kwh.items()}


def history(*records: dict[str, int | str], serial: str = SERIAL) -> History:
    return parse_history({f"U{serial}": list(records)}, Resolution.HOUR)


def sid(key: str, serial: str = SERIAL) -> str:
    return f"zapledger:{key}_{serial}"


def sums(ha: FakeHomeAssistant, key: str, serial: str = SERIAL) -> list[tuple[int, float]]:
    """(UTC hour of day, sum kWh) of one statistic."""
    return [(at.hour, total) for at, _, total in ha.rows(sid(key, serial))]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ha.sqlite3'}") as s:
        s.upsert_device(SERIAL, "zappi")
        yield s


async def send(
    store: Store, ha: FakeHomeAssistant, first: date | None = None, last: date = DAY2, **kw: object
) -> HaImportReport:
    return await import_statistics(
        store,
        first,
        last,
        TZ,
        url=ha.url,
        token=TOKEN,
        **kw,  # type: ignore[arg-type]
    )


async def test_hours_without_data_are_left_out_never_sent_as_zeros(
    store: Store, ha_server: FakeHomeAssistant
) -> None:
    records = [hour(DAY1, h, imp=1) for h in (0, 1, 2, 5, 6)]
    store.upsert_history(SERIAL, Resolution.HOUR, history(*records).records)
    report = await send(store, ha_server)
    assert sums(ha_server, "grid_import") == [(0, 1.0), (1, 2.0), (2, 3.0), (5, 4.0), (6, 5.0)]
    assert report.gap_hours == 2  # 03:00 and 04:00; the empty hours after 06:00 are not gaps
    assert report.hours == 5 and report.commands == 7


async def test_it_stops_before_the_first_hour_that_is_not_final(
    store: Store, ha_server: FakeHomeAssistant
) -> None:
    at = datetime(2025, 6, 3, tzinfo=UTC)
    day1 = history(*(hour(DAY1, h, imp=1) for h in range(24)))
    day2 = history(*(hour(DAY2, h, imp=2) for h in range(10)))
    store.write_day(SERIAL, Resolution.HOUR, DAY1, TZ, day1, expected=24, final=True, fetched_at=at)
    store.write_day(
        SERIAL, Resolution.HOUR, DAY2, TZ, day2, expected=24, final=False, fetched_at=at
    )
    report = await send(store, ha_server)
    assert len(sums(ha_server, "grid_import")) == 24
    assert report.not_final_from == datetime(2025, 6, 2, tzinfo=UTC)
    day2 = history(*(hour(DAY2, h, imp=2) for h in range(24)))
    store.write_day(SERIAL, Resolution.HOUR, DAY2, TZ, day2, expected=24, final=True, fetched_at=at)
    report = await send(store, ha_server)
    assert report.hours == 24 and report.not_final_from is None
    rows = ha_server.rows(sid("grid_import"))
    assert len(rows) == 48 and rows[-1][2] == 24 + 48


async def test_the_house_sum_never_decreases_and_continues_exactly(
    store: Store, ha_server: FakeHomeAssistant
) -> None:
    records = [
        hour(DAY1, 22, imp=1),  # house +1 kWh
        hour(DAY1, 23, exp=2),  # house -2 kWh (a measuring error: more out than came in)
        hour(DAY2, 0, imp=5),  # house +5 kWh: the true total is 4
    ]
    store.upsert_history(SERIAL, Resolution.HOUR, history(*records).records)
    await send(store, ha_server, last=DAY1)
    assert sums(ha_server, "house") == [(22, 1.0), (23, 1.0)]
    await send(store, ha_server)
    assert sums(ha_server, "house") == [(22, 1.0), (23, 1.0), (0, 4.0)]
    assert [s for _, _, s in ha_server.rows(sid("house"))] == [1.0, 1.0, 4.0]


async def test_older_home_assistant_answers_with_iso_times_and_it_still_continues(
    store: Store, ha_server: FakeHomeAssistant
) -> None:
    ha_server.iso_starts = True
    day1 = [hour(DAY1, h, imp=1) for h in range(24)]
    store.upsert_history(SERIAL, Resolution.HOUR, history(*day1).records)
    await send(store, ha_server)
    store.upsert_history(SERIAL, Resolution.HOUR, history(hour(DAY2, 0, imp=3)).records)
    report = await send(store, ha_server)
    assert report.hours == 1
    assert ha_server.rows(sid("grid_import"))[-1][1:] == (3.0, 27.0)


async def test_an_empty_database_sends_nothing_and_says_why(
    tmp_path: Path, ha_server: FakeHomeAssistant
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}") as empty:
        report = await send(empty, ha_server)
        assert report.up_to_date and "no zappi in the database" in report.notes[0]
        empty.upsert_device(SERIAL, "zappi")
        report = await send(empty, ha_server)
        assert report.notes == (f"{SERIAL}: no history stored",)
        with pytest.raises(UsageError):
            await import_statistics(empty, None, None, TZ, url=None, token=None)
    assert ha_server.imports() == []


async def test_metadata_is_complete_and_each_zappi_has_its_own(
    store: Store, ha_server: FakeHomeAssistant
) -> None:
    store.upsert_device(OTHER, "zappi")
    store.upsert_history(SERIAL, Resolution.HOUR, history(hour(DAY1, 0, imp=1)).records)
    store.upsert_history(
        OTHER, Resolution.HOUR, history(hour(DAY1, 0, h1d=3), serial=OTHER).records
    )
    await send(store, ha_server)
    keys = ("grid_import", "grid_export", "generation", "ev_solar", "ev_grid", "ev_total", "house")
    assert sorted(ha_server.statistics) == sorted(sid(k, s) for k in keys for s in (SERIAL, OTHER))
    meta = ha_server.statistics[sid("ev_solar", OTHER)].metadata
    assert meta == {
        "statistic_id": "zapledger:ev_solar_16000002",
        "source": "zapledger",
        "name": "zappi 16000002 EV from solar",
        "unit_of_measurement": "kWh",
        "has_sum": True,
        "has_mean": False,
        "mean_type": 0,
        "unit_class": "energy",
    }
    assert sums(ha_server, "ev_solar", OTHER) == [(0, 3.0)]


async def test_the_token_is_never_logged_nor_shown(
    store: Store, ha_server: FakeHomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store.upsert_history(SERIAL, Resolution.HOUR, history(hour(DAY1, 0, imp=1)).records)
    report = await send(store, ha_server)
    assert report.hours == 1
    assert TOKEN not in caplog.text + repr(report) + json.dumps(report.as_dict())
    ha_server.token = "another-token"
    with pytest.raises(HaAuthenticationError) as refused:
        await send(store, ha_server)
    assert TOKEN not in str(refused.value) + repr(refused.value) + caplog.text


async def test_a_refused_command_is_an_error(ha_server: FakeHomeAssistant) -> None:
    async with ha_session(ha_server.url, TOKEN) as session:
        with pytest.raises(HaCommandError, match="invalid_format"):
            await session.command("recorder/import_statistics", metadata={}, stats=[])
        assert await session.command("recorder/list_statistic_ids") == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def db(store: Store, tmp_path: Path) -> Iterator[str]:
    store.upsert_history(SERIAL, Resolution.HOUR, history(hour(DAY1, 0, imp=1)).records)
    yield f"sqlite:///{tmp_path / 'ha.sqlite3'}"
    state.db_url = None


def test_url_and_token_from_the_environment(
    db: str, ha_server: FakeHomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPLEDGER_HA_URL", ha_server.url)
    monkeypatch.setenv("ZAPLEDGER_HA_TOKEN", TOKEN)
    assert main(["--db", db, "ha", "import", "--tz", TZ, "--to", "2025-06-01"]) == 0
    assert sums(ha_server, "grid_import") == [(0, 1.0)]


def test_without_a_token_it_is_a_config_error(
    db: str, ha_server: FakeHomeAssistant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", db, "ha", "import", "--url", ha_server.url]) == 3
    assert "ZAPLEDGER_HA_TOKEN" in capsys.readouterr().err


def test_an_unreachable_home_assistant_exits_5(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    token = tmp_path / "token"
    token.write_text(TOKEN)
    url = f"ws://127.0.0.1:{port}/api/websocket"
    assert main(["--db", db, "ha", "import", "--url", url, "--token-file", str(token)]) == 5
    assert "cannot reach Home Assistant" in capsys.readouterr().err


def test_an_offline_dry_run_plans_from_the_first_stored_hour(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--db", db, "ha", "import", "--dry-run", "--tz", TZ, "--to", "2025-06-01"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Home Assistant not asked" in out and "would send 1 hour(s)" in out


def test_url_and_token_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert websocket_url("http://ha.local:8123") == "ws://ha.local:8123/api/websocket"
    assert websocket_url("https://ha.example/") == "wss://ha.example/api/websocket"
    assert websocket_url("ws://10.0.0.2:8123/api/websocket") == "ws://10.0.0.2:8123/api/websocket"
    for bad in ("ftp://ha.local", "ha.local:8123", None):
        with pytest.raises(ConfigError):
            websocket_url(bad)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_token(empty)
    with pytest.raises(ConfigError, match="cannot read"):
        read_token(tmp_path / "missing")
    monkeypatch.setenv("ZAPLEDGER_HA_TOKEN", " env-token \n")
    assert read_token() == "env-token"


# --- the collector ---------------------------------------------------------------------------

HUB, KEY = "10044444", "collector-key-31415"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    with Simulator(seed=4, hub_serial=HUB, api_key=KEY) as sim:
        async with Client(
            HUB, KEY, director_url=sim.url, rate_limit_per_s=None, max_attempts=2, timeout_s=5
        ) as c:
            yield c


async def test_the_collector_keeps_home_assistant_current(
    client: Client, store: Store, ha_server: FakeHomeAssistant, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    hook = collector_hook(ha_server.url, token, "Europe/London", [SERIAL])
    assert hook is not None and TOKEN not in repr(hook)
    sent = asyncio.Event()

    async def after_hour(s: Store) -> object:
        assert hook is not None
        report = await hook(s)
        if isinstance(report, HaImportReport) and report.hours:
            sent.set()
        return report

    config = CollectorConfig(
        tz="Europe/London",
        serials=(SERIAL,),
        status_interval_s=30,
        hour_period_s=0.2,
        hour_delay_s=0,
        minute_period_s=0.2,
        since=datetime.now(UTC).date() - timedelta(days=3),
        after_hour=after_hour,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_collector(client, store, config, stop))
    async with asyncio.timeout(30):
        await sent.wait()
    stop.set()
    stats = await task
    assert stats.problems == 0
    rows = ha_server.rows(sid("grid_import"))
    assert rows and all(at.minute == 0 for at, _, _ in rows)


async def test_a_failing_hook_does_not_stop_the_collector(
    client: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    twice = asyncio.Event()

    async def broken(_: Store) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            twice.set()
        raise ConfigError("no Home Assistant here")

    config = CollectorConfig(
        tz=TZ, status_interval_s=30, hour_period_s=0.1, hour_delay_s=0, after_hour=broken
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_collector(client, store, config, stop))
    async with asyncio.timeout(30):
        await twice.wait()
    stop.set()
    stats = await task
    assert stats.hour_syncs >= 2 and stats.problems >= 2
    assert "after the hour sync: ConfigError: no Home Assistant here" in caplog.text


def test_collect_takes_one_zappi_for_home_assistant(tmp_path: Path) -> None:
    assert collector_hook(None, None, TZ, []) is None
    with pytest.raises(typer.BadParameter):
        collector_hook("ws://127.0.0.1:1/api/websocket", None, TZ, [SERIAL, OTHER])
