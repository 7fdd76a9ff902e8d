"""The live sources on loopback: TCP (ser2net style), a pseudo-terminal as the serial port, a
local fake of the HomeWizard HTTP API; and file import into a real store."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from zapledger.exceptions import MeterError
from zapledger.meters import (
    StoreWriter,
    detect_format,
    homewizard_readings,
    import_file,
    poll_homewizard,
    read_serial,
    read_tcp,
)
from zapledger.models import DsmrVersion, MeterFileFormat, MeterReading
from zapledger.store import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        yield s


def _clock() -> Any:
    ticks = iter(T0 + timedelta(seconds=10 * k) for k in range(1000))
    return lambda: next(ticks)


# --- file ------------------------------------------------------------------------------------


def test_import_file_is_idempotent(store: Store) -> None:
    path = FIXTURES / "dsmr_v5_three.txt"
    first = import_file(path, store)
    again = import_file(path, store)
    assert first.stored == again.stored == 12
    rows = store.meter_readings(None, None, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert len(rows) == 12
    assert {(r.meter_id, r.channel) for r in rows} == {
        ("K8EG004046395507", ch) for ch in ("import_t1", "import_t2", "export_t1", "export_t2")
    }
    assert all(r.timestamp.tzinfo is UTC for r in rows)


def test_import_file_thins_and_detects_format(store: Store, tmp_path: Path) -> None:
    stats = import_file(FIXTURES / "dsmr_v5_three.txt", store, every_s=15)
    assert (stats.stored, stats.thinned) == (8, 4)  # 0 s and 20 s kept, 10 s dropped
    assert detect_format(FIXTURES / "dsmr_v22_kamstrup.txt") is MeterFileFormat.DSMR
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("# my meter\n\ntimestamp,pv_kwh\n2026-01-15T11:00:00Z,1.5\n")
    assert detect_format(csv_file) is MeterFileFormat.CSV
    stats = import_file(csv_file, store, meter_id="roof")
    assert stats.stored == 1
    assert store.meters() == [
        *(("K8EG004046395507", ch) for ch in ("export_t1", "export_t2", "import_t1", "import_t2")),
        ("roof", "pv"),
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(MeterError, match="no telegram"):
        detect_format(empty)
    with pytest.raises(MeterError, match="cannot read"):
        detect_format(tmp_path / "missing.txt")


def test_store_writer_flushes_by_size_and_time(store: Store) -> None:
    now = [0.0]
    flushed: list[int] = []
    writer = StoreWriter(
        store, batch=3, flush_s=60, on_flush=flushed.append, monotonic=lambda: now[0]
    )
    reading = MeterReading("m", "pv", T0, 1, "test")
    writer([reading, MeterReading("m", "pv", T0 + timedelta(seconds=1), 2, "test")])
    assert flushed == []
    now[0] = 61.0
    writer([MeterReading("m", "pv", T0 + timedelta(seconds=2), 3, "test")])
    assert flushed == [3]
    writer([MeterReading("m", "ev", T0, n, "test") for n in range(3)])
    assert flushed == [3, 3]
    assert writer.flush() == 0
    assert writer.written == 6


# --- TCP -------------------------------------------------------------------------------------


class _TcpFeeder:
    """A ser2net stand-in on 127.0.0.1: each accepted connection gets the next chunk list."""

    def __init__(self, sessions: list[list[bytes]]) -> None:
        self.sessions = sessions
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for chunks in self.sessions:
            conn, _ = self.server.accept()
            with conn:
                for chunk in chunks:
                    conn.sendall(chunk)
                    time.sleep(0.005)
        self.server.close()

    def close(self) -> None:
        self.thread.join(5)


def _chunks(data: bytes, size: int = 97) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_tcp_reader_on_loopback(store: Store) -> None:
    data = (FIXTURES / "dsmr_v5_bad_inputs.txt").read_bytes()
    feeder = _TcpFeeder([_chunks(data)])
    writer = StoreWriter(store)
    stats = read_tcp("127.0.0.1", feeder.port, None, sink=writer, reconnect=False, clock=_clock())
    writer.flush()
    feeder.close()
    assert stats.source == f"tcp://127.0.0.1:{feeder.port}"
    assert stats.accepted == 3
    assert stats.issue_counts["crc"] == 2
    assert stats.issue_counts["truncated"] == 2  # the last one is cut by the closed socket
    assert writer.written == 12


def test_tcp_reader_reconnects_after_a_cut(store: Store) -> None:
    data = (FIXTURES / "dsmr_v5_three.txt").read_bytes()
    cut = data.index(b"1-0:2.8.1", 600)  # inside the second telegram
    feeder = _TcpFeeder([[data[:cut]], [data]])
    got: list[MeterReading] = []
    stats = read_tcp(
        "127.0.0.1", feeder.port, DsmrVersion.V5, sink=got.extend, max_telegrams=5, clock=_clock()
    )
    feeder.close()
    assert stats.units == 5  # 1 + 1 truncated by the disconnect + 3
    assert stats.accepted == 4
    assert stats.issue_counts == {"truncated": 1}


def test_tcp_reader_backs_off_from_a_silent_server() -> None:
    """ser2net with a busy device accepts and closes at once: wait, then try again."""
    data = (FIXTURES / "dsmr_v5_three.txt").read_bytes()
    feeder = _TcpFeeder([[], [data]])
    started = time.monotonic()
    stats = read_tcp("127.0.0.1", feeder.port, None, max_telegrams=3, max_wait_s=0.5)
    feeder.close()
    assert stats.accepted == 3
    assert time.monotonic() - started >= 0.1  # it waited before the second try


def test_tcp_connection_refused_without_reconnect() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
    with pytest.raises(MeterError, match="cannot connect"):
        read_tcp("127.0.0.1", port, DsmrVersion.V5, reconnect=False, connect_timeout_s=2)


def test_tcp_stop_event_ends_an_idle_reader() -> None:
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        stats = read_tcp("127.0.0.1", port, DsmrVersion.V5, stop=stop, read_timeout_s=0.05)
    assert stats.units == 0


# --- serial over a pseudo-terminal -----------------------------------------------------------


def test_serial_reader_on_a_pty(store: Store) -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    data = (FIXTURES / "dsmr_v22_plain.txt").read_bytes()
    stop = threading.Event()
    watchdog = threading.Timer(15, stop.set)
    watchdog.start()

    def feed() -> None:
        time.sleep(0.3)  # let pyserial open (and flush) the port first
        for chunk in _chunks(data, 50):
            os.write(master, chunk)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    writer = StoreWriter(store)
    try:
        stats = read_serial(
            path,
            DsmrVersion.V2_2,
            sink=writer,
            stop=stop,
            max_telegrams=4,
            clock=_clock(),
            read_timeout_s=0.1,
        )
    finally:
        watchdog.cancel()
        feeder.join(5)
        os.close(master)
        os.close(slave)
    writer.flush()
    assert stats.accepted == 4
    rows = store.meter_readings("KA6U001585575011", "import_t1", T0, T0 + timedelta(hours=1))
    assert [r.timestamp for r in rows] == [T0 + timedelta(seconds=10 * k) for k in range(4)]
    assert {r.time_source for r in rows} == {"receive"}


def test_serial_port_that_does_not_open() -> None:
    with pytest.raises(MeterError, match="serial port"):
        read_serial("/dev/does-not-exist-zapledger", DsmrVersion.V5, max_telegrams=1)


# --- HomeWizard ------------------------------------------------------------------------------

_HW_DATA = {
    "wifi_ssid": "home",
    "smr_version": 50,
    "meter_model": "ISKRA 2M550T-101",
    "unique_id": "4B384547303034303436333935353037",
    "active_tariff": 2,
    "total_power_import_t1_kwh": 1234.5,
    "total_power_import_t2_kwh": 2345.25,
    "total_power_export_t1_kwh": 100.0,
    "total_power_export_t2_kwh": 200.001,
    "active_power_w": 1500,
}


class _FakeHomeWizard:
    """The dongle's local API on 127.0.0.1: GET /api and /api/v1/data, scripted answers."""

    def __init__(self, answers: list[tuple[int, str, str]]) -> None:
        self.answers = answers
        self.requests: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def data(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        status, ctype, body = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return web.Response(status=status, body=body.encode(), content_type=ctype)

    async def __aenter__(self) -> _FakeHomeWizard:
        app = web.Application()
        app.router.add_get("/api/v1/data", self.data)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


_OK = (200, "application/json", json.dumps(_HW_DATA))


async def test_homewizard_against_a_local_fake() -> None:
    async with _FakeHomeWizard([_OK, (200, "application/json", "{not json"), _OK]) as fake:
        got: list[MeterReading] = []
        stats = await poll_homewizard(
            f"127.0.0.1:{fake.port}", sink=got.extend, interval_s=0.01, count=3, clock=_clock()
        )
    assert fake.requests == ["/api/v1/data"] * 3
    assert (stats.units, stats.accepted) == (3, 2)
    assert stats.issue_counts == {"poll": 1}
    first = {r.channel: r.total_j for r in got if r.timestamp == T0}
    assert first == {
        "import_t1": 1234500 * 3600,
        "import_t2": 2345250 * 3600,
        "export_t1": 100 * 3_600_000,
        "export_t2": 200001 * 3600,
    }
    assert {r.meter_id for r in got} == {"K8EG004046395507"}
    assert {(r.source, r.time_source) for r in got} == {("homewizard", "receive")}


async def test_homewizard_disabled_api_is_fatal() -> None:
    async with _FakeHomeWizard([(403, "text/plain", "disabled")]) as fake:
        with pytest.raises(MeterError, match="HomeWizard"):
            await poll_homewizard(f"127.0.0.1:{fake.port}", count=1)


async def test_homewizard_stop_event_and_empty_answer() -> None:
    async with _FakeHomeWizard([(200, "application/json", "{}")]) as fake:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        stats = await poll_homewizard(f"127.0.0.1:{fake.port}", interval_s=0.05, stop=stop)
    assert stats.units >= 2
    assert stats.accepted == 0
    assert stats.issue_counts["no_totaliser"] == stats.units


def test_homewizard_single_tariff_meter() -> None:
    class Data:
        total_energy_import_kwh = 10.5
        total_energy_export_kwh = 0.25
        total_energy_import_t1_kwh = None

    readings = homewizard_readings(Data(), "hw", T0)
    assert {r.channel: r.total_j for r in readings} == {
        "import_t1": 10_500 * 3600,
        "export_t1": 250 * 3600,
    }
