"""The demo's library part: the simulated household's own meters, imported and reconciled, and
the status snapshots the collector would have taken.

``zapledger demo`` (the CLI) shows it; scripts and tests can run the same steps. It imports the
simulator, which imports nothing of zapledger: the meter data is written in the wire formats
(DSMR 5 telegrams, CSV) and read back through the same readers a user's files go through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .localtime import local_day_window

if TYPE_CHECKING:
    from .client import Client
    from .meters import ReadStats
    from .reconciliation import ReconcileReport
    from .report import BalanceReport, SessionCost
    from .simulator import Simulator
    from .simulator.meterdata import TruthSource
    from .store import Store
    from .tariffs import Tariffs

__all__ = [
    "DEMO_STATUS_STEP",
    "DEMO_TARIFFS",
    "DemoCost",
    "DemoMeters",
    "demo_cost",
    "demo_meters",
    "demo_statuses",
]

#: How often the demo takes a status snapshot (the collector takes one a minute; fewer keep the
#: demo short while every charge session still gets one).
DEMO_STATUS_STEP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DemoMeters:
    """What the meter step did: one import per file, the reconciliation and its chart."""

    imports: tuple[ReadStats, ...]
    report: ReconcileReport
    chart: Path
    out_dir: Path


def demo_meters(
    store: Store,
    first_day: date,
    last_day: date,
    tz: str,
    *,
    household: TruthSource,
    out_dir: Path,
    serial: str | None = None,
) -> DemoMeters:
    """Write the simulated meters' data, import it, reconcile it against the stored zappi history.

    The P1 meter's DSMR 5 capture and the PV/EV CSV are imported (the DSMR 2.2 capture of the
    same meter is written alongside, for show); the zappi history must already be stored.
    """
    from .meters import import_file
    from .reconciliation import reconcile_summary, render_chart
    from .simulator.meterdata import write_demo_meter_data

    start = local_day_window(first_day, tz)[0] - timedelta(hours=1)
    end = local_day_window(last_day, tz)[1] + timedelta(hours=1)
    paths = write_demo_meter_data(household, start, end, out_dir)
    imports = tuple(import_file(paths[key], store) for key in ("dsmr5", "csv"))
    report = reconcile_summary(store, first_day, last_day, tz, serial=serial)
    chart = render_chart(report, out_dir / "reconcile.png", force=True)  # the demo's own folder
    return DemoMeters(imports, report, chart, out_dir)


async def demo_statuses(
    client: Client,
    store: Store,
    simulator: Simulator,
    serial: str,
    first_day: date,
    last_day: date,
    tz: str,
    *,
    step: timedelta = DEMO_STATUS_STEP,
) -> int:
    """Store a status of ``serial`` every ``step`` over the local days, up to now, as the
    collector would have: the simulator's clock is wound to each moment, then set back to real
    time. Charge sessions get their modes and plug-in/out times from these. Returns the count."""
    start = local_day_window(first_day, tz)[0]
    end = min(local_day_window(last_day, tz)[1], datetime.now(UTC))
    taken = 0
    try:
        at = start
        while at < end:
            simulator.set_now(at)
            store.add_status(await client.zappi_status(serial), at)
            taken += 1
            at += step
    finally:
        simulator.set_now(None)
    return taken


#: The demo's two contracts, one per site: a time-of-use tariff and a dynamic one (docs/tariffs.md).
DEMO_TARIFFS = {
    "time-of-use": """
[[contracts]]
name = "Night saver (T1 00:30-04:30)"
kind = "time-of-use"
currency = "GBP"
from = 2000-01-01
import_per_kwh = "0.30"
export_per_kwh = "0.15"
standing_charge_per_day = "0.53"
windows = [
  { name = "T1", days = "all", start = "00:30", end = "04:30", import_per_kwh = "0.085" },
  { name = "weekend", days = "weekend", start = "10:00", end = "16:00", import_per_kwh = "0.22" },
]
""",
    "dynamic": """
[[contracts]]
name = "Day-ahead (demo prices)"
kind = "dynamic"
currency = "GBP"
from = 2000-01-01
prices = "demo-day-ahead"
markup_per_kwh = "0.02"
export_per_kwh = "0.05"
standing_charge_per_day = "0.45"
""",
}


@dataclass(frozen=True, slots=True)
class DemoCost:
    """The demo month priced under each demo tariff (reports by day, with their cost layer)."""

    tariffs: dict[str, Tariffs]
    reports: dict[str, BalanceReport]
    prices_csv: Path
    #: the month's charge sessions, priced minute by minute under each tariff (same order)
    sessions: dict[str, list[SessionCost]]


def _demo_price_csv(first: date, last: date, tz: str, path: Path) -> Path:
    """Half-hourly day-ahead prices of a made-up market (cheap nights, dear evenings), as a CSV
    in the documented format, so the demo imports them like a user's file."""
    import math

    start = local_day_window(first, tz)[0] - timedelta(days=1)
    end = local_day_window(last, tz)[1] + timedelta(days=1)
    lines = ["start,minutes,price_per_kwh,currency"]
    at = start
    while at < end:
        hour = at.hour + at.minute / 60
        price = 0.18 + 0.10 * math.sin(math.pi * (hour - 10) / 12) - 0.06 * (1 <= hour < 5)
        stamp = at.isoformat().replace("+00:00", "Z")
        lines.append(f"{stamp},30,{price:.4f},GBP")
        at += timedelta(minutes=30)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def demo_cost(
    store: Store,
    first_day: date,
    last_day: date,
    tz: str,
    *,
    out_dir: Path,
    serial: str | None = None,
) -> DemoCost:
    """Import the demo's day-ahead prices; price the stored month and its charge sessions under
    both demo tariffs."""
    import tomllib

    from .prices import import_price_csv
    from .report import balance, cost_sessions
    from .sessions import sessions
    from .tariffs import parse_tariffs

    csv_path = _demo_price_csv(first_day, last_day, tz, out_dir / "day-ahead-prices.csv")
    import_price_csv(store, csv_path, "demo-day-ahead")
    tariffs = {k: parse_tariffs(tomllib.loads(v)) for k, v in DEMO_TARIFFS.items()}
    reports = {
        k: balance(store, first_day, last_day, tz, period="day", serial=serial, tariffs=t)
        for k, t in tariffs.items()
    }
    found = sessions(store, first_day, last_day, tz, serial=serial).sessions
    priced = {k: cost_sessions(store, found, t, tz) for k, t in tariffs.items()}
    return DemoCost(tariffs, reports, csv_path, priced)
