"""``zapledger demo``: the main job end to end against the built-in simulator, no credentials."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import run_async

if TYPE_CHECKING:
    from rich.console import Console

    from ..models import History, ZappiStatus

DEMO_HUB = "10088888"
DEMO_KEY = "demo-api-key"


def run_demo(console: Console, *, days: int, out: Path, tz: str) -> None:
    """Start the simulator in-process and show what zapledger does with it."""
    from ..client import Client
    from ..history import to_local
    from ..models import Resolution
    from ..simulator import Simulator
    from ._core import history_table, status_panel

    out.mkdir(parents=True, exist_ok=True)
    with Simulator(seed=1, timezone=tz, hub_serial=DEMO_HUB, api_key=DEMO_KEY) as sim:
        console.rule("[bold]zapledger demo[/] — the simulated myenergi cloud at " + sim.url)
        serial = sim.household.zappi_serials[0]
        yesterday = to_local(datetime.now().astimezone(), tz).date() - timedelta(days=1)

        async def fetch() -> tuple[ZappiStatus, History]:
            async with Client(DEMO_HUB, DEMO_KEY, director_url=sim.url) as client:
                status = await client.zappi_status(serial)
                day = await client.local_day(serial, yesterday, tz, Resolution.HOUR)
                return status, day

        status, day = run_async(fetch())
        console.print(status_panel(status))
        console.print(history_table([day], tz))
        _note_day(console, yesterday, day)


def _note_day(console: Console, day: date, history: History) -> None:
    hours = len(history.records)
    console.print(f"{day.isoformat()}: {hours} hourly records, {history.missing} missing")
