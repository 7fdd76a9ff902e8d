"""The Prometheus exporter: names and values, read back through Debian's real Prometheus server.

Expected values come from the payload fixtures and from SQL sums over the stored history, not from
the exporter's code. A scrape never reaches the cloud: with the simulator gone, scrapes still
answer the last values.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prometheus_server import prometheus_binary, running_prometheus
from zapledger.backfill import sync
from zapledger.client import Client
from zapledger.collect import CollectorConfig
from zapledger.integrations.metrics import (
    LiveValues,
    MetricsServer,
    binding_warning,
    collect_with_metrics,
    serve_store_metrics,
)
from zapledger.models import Resolution, decode_status, parse_zappi
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

HUB = "10077777"
KEY = "metrics-test-key-2718"
ZAPPI = "16000001"
TZ = "Europe/London"
FIXTURES = Path(__file__).parent / "fixtures"
POLLED_AT = datetime(2024, 6, 15, 18, 30, 40, tzinfo=UTC)


def fixture_zappi(name: str = "status_zappi_example.json") -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())["zappi"][0]
    return payload


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed on (name, labels)."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


# --- the exposition ---------------------------------------------------------------------------


def test_live_values_have_base_units_roles_and_state_gauges() -> None:
    raw = fixture_zappi()
    values = LiveValues()
    values.observe(parse_zappi(raw), POLLED_AT)
    got = samples(MetricsServer(values).render())
    sn = str(raw["sno"])
    assert got[key("zapledger_zappi_power_watts", serial=sn, role="grid")] == raw["grd"]
    assert got[key("zapledger_zappi_power_watts", serial=sn, role="generation")] == raw["gen"]
    assert got[key("zapledger_zappi_power_watts", serial=sn, role="charge")] == raw["div"]
    assert got[key("zapledger_zappi_supply_volts", serial=sn)] == pytest.approx(raw["vol"] / 10)
    assert got[key("zapledger_zappi_supply_hertz", serial=sn)] == raw["frq"]
    # zmo 1 is Fast: one state gauge per mode, 1 for the current one
    modes = {
        m: got[key("zapledger_zappi_mode", serial=sn, mode=m)]
        for m in ("fast", "eco", "eco+", "stop")
    }
    assert modes == {"fast": 1.0, "eco": 0.0, "eco+": 0.0, "stop": 0.0}
    assert got[key("zapledger_zappi_charge_status", serial=sn, status="charging")] == 1.0  # sta 3
    assert got[key("zapledger_zappi_charge_status", serial=sn, status="paused")] == 0.0
    assert got[key("zapledger_zappi_plug_status", serial=sn, status="charging")] == 1.0  # pst C2
    assert got[key("zapledger_last_poll_timestamp_seconds", serial=sn)] == POLLED_AT.timestamp()
    reported = datetime(2021, 7, 25, 6, 30, 31, tzinfo=UTC)  # dat/tim of the fixture, UTC
    assert got[key("zapledger_zappi_report_timestamp_seconds", serial=sn)] == reported.timestamp()


def test_an_undocumented_mode_is_a_state_of_its_own() -> None:
    raw = fixture_zappi() | {"zmo": 7}
    values = LiveValues()
    values.observe(parse_zappi(raw), POLLED_AT)
    got = samples(MetricsServer(values).render())
    current = [labels for (name, labels), v in got.items() if name == "zapledger_zappi_mode" and v]
    assert current == [frozenset({("serial", str(raw["sno"])), ("mode", "unknown_7")})]


def test_nothing_is_served_before_the_first_poll() -> None:
    got = samples(MetricsServer(LiveValues()).render())
    assert not [name for name, _ in got if name.startswith("zapledger_")]


def test_binding_beyond_loopback_is_warned_about() -> None:
    assert binding_warning("127.0.0.1") is None
    assert binding_warning("::1") is None
    assert binding_warning("localhost") is None
    warning = binding_warning("0.0.0.0")
    assert warning is not None and "0.0.0.0" in warning
    assert binding_warning("metrics.example") is not None
    assert MetricsServer(LiveValues()).host == "127.0.0.1"


# --- standalone: the store's newest snapshot and history, scraped by the real Prometheus ----


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=3, hub_serial=HUB, api_key=KEY) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None) as c:
        yield c


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "metrics.sqlite3"


def sql_totals(db: Path, serial: str) -> dict[str, int]:
    """The joules of the stored hour history, summed by SQLite itself."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT SUM(import_j), SUM(export_j), SUM(generation_j), "
            "SUM(diverted_h1_j + diverted_h2_j + diverted_h3_j), "
            "SUM(boosted_h1_j + boosted_h2_j + boosted_h3_j) FROM history_hour WHERE serial = ?",
            (serial,),
        ).fetchone()
    names = ("grid_import", "grid_export", "generation", "ev_solar", "ev_grid")
    return dict(zip(names, (int(v) for v in row), strict=True))


async def fill_store(client: Client, store: Store) -> dict[str, Any]:
    """Three days of hour history from the simulator, and two stored snapshots (one newer)."""
    await sync(store, date(2024, 6, 12), date(2024, 6, 14), TZ, client=client,
               resolutions=[Resolution.HOUR])  # fmt: skip
    older = fixture_zappi() | {"sno": ZAPPI, "zmo": 2, "dat": "01-01-2024", "tim": "10:00:00"}
    newer = fixture_zappi() | {"sno": ZAPPI, "zmo": 3, "grd": -1234, "dat": "01-01-2024",
                               "tim": "10:01:00"}  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    store.add_status(parse_zappi(older), now - timedelta(minutes=1))
    store.add_status(parse_zappi(newer), now)
    return newer | {"fetched_at": now}


async def test_prometheus_scrapes_the_stored_values(
    client: Client, db: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{db}"
    with open_store(url) as store:
        newest = await fill_store(client, store)
    expected = sql_totals(db, ZAPPI)
    assert expected["grid_import"] > 0 and expected["ev_solar"] > 0

    stop = asyncio.Event()
    ready: list[MetricsServer] = []
    with open_store(url) as store:
        task = asyncio.create_task(
            serve_store_metrics(store, stop, port=0, refresh_s=0.5, on_ready=ready.append)
        )
        try:
            await _wait_for_sample(ready, "zapledger_grid_import_joules_total")
            target = f"127.0.0.1:{ready[0].port}"
            got = await asyncio.to_thread(_read_back_through_prometheus, target, tmp_path)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    assert got["grid_watts"] == newest["grd"]
    assert got["volts"] == pytest.approx(newest["vol"] / 10)
    assert got["mode"] == "eco+"  # zmo 3 of the newest snapshot
    assert got["last_poll"] == newest["fetched_at"].timestamp()
    assert got["energy"] == expected


def _read_back_through_prometheus(target: str, workdir: Path) -> dict[str, Any]:
    def one(expr: str) -> float:
        (series,) = prom.wait_for(expr)
        return float(series["value"][1])

    with running_prometheus(target, workdir) as prom:
        mode = prom.wait_for(f'zapledger_zappi_mode{{serial="{ZAPPI}"}} == 1')
        return {
            "grid_watts": one(f'zapledger_zappi_power_watts{{serial="{ZAPPI}",role="grid"}}'),
            "volts": one(f'zapledger_zappi_supply_volts{{serial="{ZAPPI}"}}'),
            "mode": next(s["metric"]["mode"] for s in mode),
            "last_poll": one(f'zapledger_last_poll_timestamp_seconds{{serial="{ZAPPI}"}}'),
            "energy": {
                name: int(one(f'zapledger_{name}_joules_total{{serial="{ZAPPI}"}}'))
                for name in ("grid_import", "grid_export", "generation", "ev_solar", "ev_grid")
            },
        }


# --- inside the collector: its last poll, served after the cloud is gone ---------------------


async def test_the_collectors_polls_are_served_as_metrics(
    sim: Simulator, client: Client, db: Path
) -> None:
    config = CollectorConfig(
        tz=TZ, status_interval_s=0.2, hour_period_s=3600, minute_period_s=3600,
        since=date.today() - timedelta(days=1), backoff_initial_s=0.05, backoff_max_s=0.1,
    )  # fmt: skip
    stop = asyncio.Event()
    ready: list[MetricsServer] = []
    with open_store(f"sqlite:///{db}") as store:
        task = asyncio.create_task(
            collect_with_metrics(
                client, store, config, stop, port=0, refresh_s=0.2, on_ready=ready.append
            )
        )
        try:
            text = await _wait_for_sample(ready, "zapledger_zappi_power_watts")
            stop.set()
            await asyncio.wait_for(task, 20)
        finally:
            stop.set()
    assert task.done()
    answer = await asyncio.to_thread(
        httpx.get, f"{sim.url}/cgi-jstatus-Z{ZAPPI}", auth=httpx.DigestAuth(HUB, KEY)
    )
    raw = answer.json()
    mode = {1: "fast", 2: "eco", 3: "eco+", 4: "stop"}[raw["zappi"][0]["zmo"]]
    current = [
        dict(k[1])["mode"] for k, v in samples(text).items() if k[0] == "zapledger_zappi_mode" and v
    ]
    assert current == [mode]


async def test_a_scrape_answers_from_memory_when_the_cloud_is_gone(
    sim: Simulator, client: Client, db: Path
) -> None:
    config = CollectorConfig(tz=TZ, status_interval_s=3600, hour_period_s=3600,
                             minute_period_s=3600, since=date.today())  # fmt: skip
    stop = asyncio.Event()
    ready: list[MetricsServer] = []
    with open_store(f"sqlite:///{db}") as store:
        task = asyncio.create_task(
            collect_with_metrics(client, store, config, stop, port=0, on_ready=ready.append)
        )
        try:
            first = await _wait_for_sample(ready, "zapledger_last_poll_timestamp_seconds")
            sim.stop()
            seen = len(sim.requests)
            again = await asyncio.to_thread(lambda: httpx.get(ready[0].url, timeout=5).content)
            assert len(sim.requests) == seen
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    polls = [k for k in samples(first) if k[0] == "zapledger_last_poll_timestamp_seconds"]
    assert polls and all(samples(again)[k] == samples(first)[k] for k in polls)


async def _wait_for_sample(ready: list[MetricsServer], name: str, timeout_s: float = 20) -> bytes:
    """Scrape over HTTP until ``name`` shows up (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if ready:
            answer = await asyncio.to_thread(httpx.get, ready[0].url, timeout=5)
            if any(k[0] == name for k in samples(answer.content)):
                return answer.content
        await asyncio.sleep(0.1)
    pytest.fail(f"no {name} within {timeout_s} s")


def test_prometheus_missing_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"scripts/system-deps\.sh"):
        prometheus_binary()


def test_scrapes_are_thread_safe_while_values_change() -> None:
    values = LiveValues()
    server = MetricsServer(values)
    zappi = parse_zappi(fixture_zappi())
    done = threading.Event()

    def writer() -> None:
        while not done.is_set():
            values.observe(zappi, datetime.now(UTC))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(50):
            assert b"zapledger_zappi_power_watts" in server.render()
    finally:
        done.set()
        thread.join()


def test_the_collector_hook_keeps_to_the_chosen_zappis() -> None:
    site = decode_status((FIXTURES / "status_two_zappis.json").read_bytes())
    first, second = (z.serial for z in site.zappis)
    values = LiveValues()
    values.observe_site(site, POLLED_AT, serials=(second,))
    assert set(values.copy()[0]) == {second}
    values.observe_site(site, POLLED_AT)
    assert set(values.copy()[0]) == {first, second}
