"""``zapledger demo``: the main job end to end against the built-in simulator, no credentials.

Status and a day of hourly energy from the (simulated) cloud, a backfill of the last days into the
embedded SQLite file, the EV charge sessions, the household's meters reconciled against it, and
the HTML report.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import run_async

if TYPE_CHECKING:
    from rich.console import Console

    from ..demo import DemoCost
    from ..store import Store

DEMO_HUB = "10088888"
DEMO_KEY = "demo-api-key"


def run_demo(console: Console, *, days: int, out: Path, tz: str) -> None:
    """Start the simulator in-process and show what zapledger does with it."""
    from ..client import Client
    from ..demo import demo_cost, demo_meters, demo_statuses
    from ..localtime import to_local
    from ..models import Resolution
    from ..report import write_html_report
    from ..sessions import sessions
    from ..simulator import Simulator
    from ..store import open_store
    from ._core import history_table, status_panel
    from ._meter import print_demo_meters
    from ._sessions import print_sessions
    from ._sync import print_sync_summary, sync_with_progress

    out.mkdir(parents=True, exist_ok=True)
    db_path = (out / "zapledger.sqlite3").resolve()
    today = to_local(datetime.now(UTC), tz).date()
    last = today - timedelta(days=1)
    first = today - timedelta(days=days)

    with (
        Simulator(seed=1, timezone=tz, hub_serial=DEMO_HUB, api_key=DEMO_KEY) as sim,
        open_store(f"sqlite:///{db_path}") as store,
    ):
        console.rule(f"[bold]zapledger demo[/] — simulated myenergi cloud at {sim.url}")
        serial = sim.household.zappi_serials[0]

        async def main() -> None:
            async with Client(DEMO_HUB, DEMO_KEY, director_url=sim.url) as client:
                status = await client.zappi_status(serial)
                store.upsert_device(serial, "zappi")
                store.add_status(status, datetime.now(UTC))
                console.print(status_panel(status))
                day = await client.local_day(serial, last, tz, Resolution.HOUR)
                console.print(history_table([day], tz))
                console.rule(f"Backfill {first} to {last} into {db_path}")
                report = await sync_with_progress(
                    console, store, first, last, tz, client=client, serial=serial
                )
                for summary in report.summaries:
                    print_sync_summary(console, summary)
            # the collector's status snapshots (plug state, mode), at the simulator's own pace
            async with Client(
                DEMO_HUB, DEMO_KEY, director_url=sim.url, rate_limit_per_s=None
            ) as quick:
                await demo_statuses(quick, store, sim, serial, first, last, tz)

        run_async(main())
        _print_stored(console, store, serial, first, last)
        console.rule("EV charge sessions (minute history; modes from the status snapshots)")
        print_sessions(console, sessions(store, first, last, tz, serial=serial))
        console.rule("Reconciliation against the household's own meters")
        meters = demo_meters(
            store, first, last, tz, household=sim.household, out_dir=out / "meters", serial=serial
        )
        print_demo_meters(console, meters)
        console.rule("What it cost: the month and its sessions, time-of-use and dynamic tariffs")
        cost = demo_cost(store, first, last, tz, out_dir=out, serial=serial)
        _print_cost(console, cost)
        _print_session_costs(console, cost, tz)
        console.rule("HTML report")
        page = write_html_report(store, first, last, tz, out_dir=out, serial=serial, force=True)
    console.print(f"HTML report of the demo month: [bold]{page.resolve()}[/]")


def _print_stored(console: Console, store: Store, serial: str, first: date, last: date) -> None:
    from rich.table import Table

    from ..models import Resolution

    table = Table(title=f"Stored in {store.url}")
    table.add_column("Resolution")
    table.add_column("Rows", justify="right")
    table.add_column("Days final", justify="right")
    table.add_column("Days with gaps", justify="right")
    for resolution in (Resolution.MINUTE, Resolution.HOUR):
        states = store.sync_states(serial, resolution, first, last).values()
        table.add_row(
            resolution.value,
            f"{store.count_history(serial, resolution):,}",
            str(sum(1 for s in states if s.final)),
            str(sum(1 for s in states if s.missing)),
        )
    console.print(table)


def _print_cost(console: Console, cost: DemoCost) -> None:
    from rich.table import Table

    names = "; ".join(f"{k}: {t.contracts[0].name}" for k, t in cost.tariffs.items())
    table = Table(
        title=f"Cost of the demo days ({names}; prices imported from {cost.prices_csv.name})"
    )
    table.add_column("Tariff", no_wrap=True)
    for header in ("Import", "Export", "Standing", "Net", "EV grid", "EV solar", "Savings"):
        table.add_column(header, justify="right")
    for kind, report in cost.reports.items():
        assert report.cost is not None
        total = report.cost.total
        table.add_row(
            f"{kind} ({total.currency})",
            *(
                a.text()
                for a in (
                    total.import_cost,
                    total.export_revenue,
                    total.standing_charge,
                    total.net_cost,
                    total.ev_grid_cost,
                    total.ev_solar_value,
                    total.savings,
                )
            ),
        )
    console.print(table)


def _print_session_costs(console: Console, cost: DemoCost, tz: str) -> None:
    from rich.table import Table

    from ..localtime import to_local
    from ._common import kwh

    kinds = list(cost.sessions)
    table = Table(title="Charge sessions and their cost, minute by minute")
    table.add_column("Start", no_wrap=True)
    table.add_column("kWh", justify="right")
    table.add_column("Solar\nkWh", justify="right")
    for kind in kinds:
        table.add_column(f"{kind}\n({cost.tariffs[kind].currency})", justify="right")
    rows = zip(*(cost.sessions[k] for k in kinds), strict=True)
    for priced in rows:
        first = priced[0]
        table.add_row(
            to_local(first.start, tz).strftime("%Y-%m-%d %H:%M"),
            kwh(first.energy_j),
            kwh(first.diverted_j),
            *(p.claim.text() for p in priced),
        )
    console.print(table)
