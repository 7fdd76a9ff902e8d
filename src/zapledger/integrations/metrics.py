"""Prometheus exporter: the last values zapledger saw, served without ever calling the cloud.

A scrape renders what a :class:`LiveValues` holds: each zappi's last status (the collector's
polls, or for ``zapledger metrics`` the newest stored snapshot) and energy counters summed from
the stored hour history. The store is read on a timer, never on a scrape, and the time of the
last good poll is its own gauge, so alerts can fire on staleness. Names follow Prometheus's rules:
base units in the name, labels for the serial and the CT role, state gauges for the enums.
Needs ``zapledger[prometheus]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from ..models import (
    ChargeStatus,
    Energy,
    PlugStatus,
    SiteStatus,
    ZappiMode,
    ZappiStatus,
    parse_zappi,
)
from ._totals import stored_totals

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from ..client import Client
    from ..collect import CollectorConfig, CollectorStats
    from ..store import Store

__all__ = [
    "ENERGY_COUNTERS",
    "LiveValues",
    "LiveZappi",
    "MetricsServer",
    "binding_warning",
    "collect_with_metrics",
    "load_latest_statuses",
    "mode_label",
    "serve_store_metrics",
]

logger = logging.getLogger("zapledger.metrics")

#: (metric name without ``_total``, field of :class:`Energy`, help): one counter per quantity.
ENERGY_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("zapledger_grid_import_joules", "import_j", "Energy imported from the grid (stored history)."),
    ("zapledger_grid_export_joules", "export_j", "Energy exported to the grid (stored history)."),
    ("zapledger_generation_joules", "generation_j", "Energy generated on site (stored history)."),
    ("zapledger_ev_solar_joules", "diverted_j", "Surplus energy diverted into the EV."),
    ("zapledger_ev_grid_joules", "boosted_j", "Grid energy boosted into the EV."),
)
#: The CT roles of the live powers: label value -> ZappiStatus attribute.
POWER_ROLES: tuple[tuple[str, str], ...] = (
    ("grid", "grid_power_w"),
    ("generation", "generation_power_w"),
    ("charge", "charge_power_w"),
)
_MODE_LABELS = {
    ZappiMode.FAST: "fast",
    ZappiMode.ECO: "eco",
    ZappiMode.ECO_PLUS: "eco+",
    ZappiMode.STOPPED: "stop",
    ZappiMode.STARTUP_FAULT: "startup_fault",
}
#: How far back the newest stored snapshot is looked for, nearest window first.
_SNAPSHOT_WINDOWS = (timedelta(hours=2), timedelta(days=2), timedelta(days=60), None)


def mode_label(mode: ZappiMode | None) -> str | None:
    """The mode as owners and the app name it: ``fast`` ``eco`` ``eco+`` ``stop``."""
    if mode is None:
        return None
    return _MODE_LABELS.get(mode, mode.name.lower())


@dataclass(frozen=True, slots=True)
class LiveZappi:
    """What one zappi reported at its last good poll."""

    serial: str
    polled_at: datetime
    reported_at: datetime | None
    mode: str | None
    charge_status: str | None
    plug_status: str | None
    power_w: Mapping[str, float | None]
    voltage_v: float | None
    frequency_hz: float | None

    @classmethod
    def from_status(cls, zappi: ZappiStatus, polled_at: datetime) -> LiveZappi:
        return cls(
            serial=zappi.serial,
            polled_at=polled_at,
            reported_at=zappi.timestamp,
            mode=mode_label(zappi.mode),
            charge_status=None if zappi.charge_status is None else zappi.charge_status.name.lower(),
            plug_status=None if zappi.plug_status is None else zappi.plug_status.name.lower(),
            power_w={role: getattr(zappi, attr) for role, attr in POWER_ROLES},
            voltage_v=zappi.voltage_v,
            frequency_hz=zappi.frequency_hz,
        )


@dataclass
class LiveValues:
    """The exporter's state, shared between the thread that serves scrapes and the updaters."""

    zappis: dict[str, LiveZappi] = field(default_factory=dict)
    energy: dict[str, Energy] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, zappi: ZappiStatus, polled_at: datetime) -> None:
        live = LiveZappi.from_status(zappi, polled_at)
        with self._lock:
            self.zappis[live.serial] = live

    def observe_site(
        self, site: SiteStatus, polled_at: datetime, serials: Sequence[str] = ()
    ) -> None:
        """The collector's hook: the zappis of a good poll (those of ``serials``, if given)."""
        for zappi in site.zappis:
            if not serials or zappi.serial in serials:
                self.observe(zappi, polled_at)

    def merge_stored(self, live: LiveZappi) -> None:
        """A stored snapshot, unless a newer poll is already here."""
        with self._lock:
            current = self.zappis.get(live.serial)
            if current is None or current.polled_at <= live.polled_at:
                self.zappis[live.serial] = live

    def set_energy(self, totals: Mapping[str, Energy]) -> None:
        with self._lock:
            self.energy = dict(totals)

    def copy(self) -> tuple[dict[str, LiveZappi], dict[str, Energy]]:
        with self._lock:
            return dict(self.zappis), dict(self.energy)


def _states(
    name: str, doc: str, label: str, known: Sequence[str], values: Mapping[str, str | None]
) -> GaugeMetricFamily:
    """A state gauge: every known state per zappi, 1 for the current one, 0 for the others."""
    family = GaugeMetricFamily(name, doc, labels=["serial", label])
    for serial, current in values.items():
        if current is None:
            continue
        for state in dict.fromkeys([*known, current]):
            family.add_metric([serial, state], 1.0 if state == current else 0.0)
    return family


class _Exposition(Collector):
    """Renders a :class:`LiveValues` at scrape time (no I/O: the values are already there)."""

    def __init__(self, values: LiveValues) -> None:
        self.values = values

    def collect(self) -> Iterator[Metric]:
        zappis, energy = self.values.copy()
        power = GaugeMetricFamily(
            "zapledger_zappi_power_watts", "Power through each CT role.", labels=["serial", "role"]
        )
        volts = GaugeMetricFamily(
            "zapledger_zappi_supply_volts", "Supply voltage.", labels=["serial"]
        )
        hertz = GaugeMetricFamily(
            "zapledger_zappi_supply_hertz", "Supply frequency.", labels=["serial"]
        )
        polled = GaugeMetricFamily(
            "zapledger_last_poll_timestamp_seconds",
            "When zapledger last read this zappi's status successfully (Unix time).",
            labels=["serial"],
        )
        reported = GaugeMetricFamily(
            "zapledger_zappi_report_timestamp_seconds",
            "The time the zappi itself put on its last status (Unix time).",
            labels=["serial"],
        )
        for serial, z in sorted(zappis.items()):
            for role, value in z.power_w.items():
                if value is not None:
                    power.add_metric([serial, role], float(value))
            if z.voltage_v is not None:
                volts.add_metric([serial], z.voltage_v)
            if z.frequency_hz is not None:
                hertz.add_metric([serial], z.frequency_hz)
            polled.add_metric([serial], z.polled_at.timestamp())
            if z.reported_at is not None:
                reported.add_metric([serial], z.reported_at.timestamp())
        yield from (power, volts, hertz, polled, reported)
        yield _states(
            "zapledger_zappi_mode",
            "Charge mode (1 for the current one).",
            "mode",
            ("fast", "eco", "eco+", "stop"),
            {s: z.mode for s, z in zappis.items()},
        )
        yield _states(
            "zapledger_zappi_charge_status",
            "What the charger is doing (1 for the current state).",
            "status",
            [s.name.lower() for s in ChargeStatus],
            {s: z.charge_status for s, z in zappis.items()},
        )
        yield _states(
            "zapledger_zappi_plug_status",
            "Pilot state between charger and car (1 for the current state).",
            "status",
            [s.name.lower() for s in PlugStatus],
            {s: z.plug_status for s, z in zappis.items()},
        )
        for name, attr, doc in ENERGY_COUNTERS:
            counter = CounterMetricFamily(name, doc, labels=["serial"])
            for serial, total in sorted(energy.items()):
                counter.add_metric([serial], float(getattr(total, attr)))
            yield counter


# --- reading the store (on a timer, in a thread) ---------------------------------------------


def load_latest_statuses(
    store: Store, serials: Sequence[str], now: datetime
) -> dict[str, LiveZappi]:
    """The newest stored snapshot of each zappi, as the collector saw it when it polled."""
    out: dict[str, LiveZappi] = {}
    end = now + timedelta(minutes=5)
    for serial in serials:
        for window in _SNAPSHOT_WINDOWS:
            start = now - window if window is not None else datetime(1970, 1, 1, tzinfo=UTC)
            snapshots = store.statuses(serial, start, end)
            if snapshots:
                newest = snapshots[-1]
                out[serial] = LiveZappi.from_status(parse_zappi(newest.raw), newest.fetched_at)
                break
    return out


def _serials(store: Store, wanted: Sequence[str]) -> list[str]:
    return list(wanted) or store.zappi_serials()


def refresh_from_store(
    values: LiveValues,
    store: Store,
    *,
    serials: Sequence[str] = (),
    statuses: bool,
    now: datetime | None = None,
) -> None:
    """Energy counters (and with ``statuses`` the newest snapshots) from the store."""
    at = now or datetime.now(UTC)
    sns = _serials(store, serials)
    values.set_energy(stored_totals(store, sns, at))
    if statuses:
        for live in load_latest_statuses(store, sns, at).values():
            values.merge_stored(live)


# --- serving -------------------------------------------------------------------------------


def binding_warning(host: str) -> str | None:
    """A warning when ``host`` is reachable from beyond this machine (the exporter has no auth)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"the metrics endpoint listens on {host}: anyone who can reach it sees the charger's "
        "state (bind to 127.0.0.1 and scrape through a proxy, or firewall the port)"
    )


class MetricsServer:
    """An HTTP endpoint serving ``/metrics`` from a :class:`LiveValues`, in a daemon thread."""

    def __init__(self, values: LiveValues, host: str = "127.0.0.1", port: int = 9469) -> None:
        self.values = values
        self.host = host
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Exposition(values))
        self._requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the asked one, or the one picked for port 0)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def render(self) -> bytes:
        """The exposition text a scrape gets."""
        return generate_latest(self.registry)

    def start(self) -> MetricsServer:
        warning = binding_warning(self.host)
        if warning:
            logger.warning("%s", warning)
        self._server, self._thread = start_http_server(
            self._requested_port, addr=self.host, registry=self.registry
        )
        logger.info("metrics on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _refresh_loop(
    values: LiveValues,
    store: Store,
    stop: asyncio.Event,
    *,
    interval_s: float,
    serials: Sequence[str],
    statuses: bool,
) -> None:
    """Re-read the store every ``interval_s``; a failure is one log line, the old values stay."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(
                refresh_from_store, values, store, serials=serials, statuses=statuses
            )
        except Exception as exc:  # an exporter keeps serving what it has
            logger.warning("reading the store for metrics failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def serve_store_metrics(
    store: Store,
    stop: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 9469,
    refresh_s: float = 30.0,
    serials: Sequence[str] = (),
    on_ready: Callable[[MetricsServer], object] | None = None,
) -> None:
    """``zapledger metrics``: serve the newest stored snapshots and history until ``stop``."""
    if refresh_s <= 0:
        raise ValueError("the refresh interval must be positive")
    values = LiveValues()
    await asyncio.to_thread(refresh_from_store, values, store, serials=serials, statuses=True)
    with MetricsServer(values, host, port) as server:
        if on_ready is not None:
            on_ready(server)
        await _refresh_loop(
            values, store, stop, interval_s=refresh_s, serials=serials, statuses=True
        )


async def collect_with_metrics(
    client: Client,
    store: Store,
    config: CollectorConfig,
    stop: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 9469,
    refresh_s: float = 60.0,
    on_ready: Callable[[MetricsServer], object] | None = None,
) -> CollectorStats:
    """``zapledger collect --metrics-port``: the collector, its last polls served as metrics."""
    from ..collect import run_collector

    values = LiveValues()
    wanted = config.serials
    config = replace(config, on_status=lambda site, at: values.observe_site(site, at, wanted))
    with MetricsServer(values, host, port) as server:
        if on_ready is not None:
            on_ready(server)
        energy = asyncio.create_task(
            _refresh_loop(
                values,
                store,
                stop,
                interval_s=refresh_s,
                serials=config.serials,
                statuses=False,
            )
        )
        try:
            return await run_collector(client, store, config, stop)
        finally:
            stop.set()
            await energy
