"""Commands that control the charger: mode, boost, min-green, priority, phases, lock, boost-timers.

Each builds a checked command of :mod:`zapledger.control` (bad arguments: exit 2, nothing sent),
asks first when the command interrupts a charge and stdin is a terminal (``--yes`` skips), runs it
through the :class:`~zapledger.control.Controller` and prints what happened.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from ..models import ChargeMode, PhaseSetting
from ._common import make_client, run_async, settings, state

if TYPE_CHECKING:
    from ..control import BoostTimers, Command, CommandResult


_SERIAL = typer.Option(
    None, "--serial", help="Which zappi (default: the configured one or the first)."
)
_JSON = typer.Option(
    False, "--json", help="Print what was sent, the answer and the state read back."
)
_NO_WAIT = typer.Option(False, "--no-wait", help="Return once the cloud accepts; do not read back.")
_YES = typer.Option(False, "--yes", "-y", help="Do not ask before interrupting a charge.")
_TIMEOUT = typer.Option(
    90.0, "--timeout", min=0, help="Seconds to wait for the charger to confirm."
)

#: Extra keyword arguments for every Controller the CLI makes (tests shorten the poll interval).
CONTROLLER_OPTIONS: dict[str, Any] = {}

timers_app = typer.Typer(
    help="Show the boost timers (the default) or set one slot.", invoke_without_command=True
)


def register(app: typer.Typer) -> None:
    app.command("mode")(mode_cmd)
    app.command("boost")(boost_cmd)
    app.command("min-green")(min_green_cmd)
    app.command("priority")(priority_cmd)
    app.command("phases")(phases_cmd)
    app.command("lock")(lock_cmd)
    app.add_typer(timers_app, name="boost-timers")


def _send(
    build: Callable[[], Command],
    serial: str | None,
    as_json: bool,
    no_wait: bool,
    yes: bool,
    timeout_s: float,
) -> None:
    """Build, confirm on a terminal if it interrupts a charge, run, render."""
    from ..control import Controller

    command = build()
    if command.interrupts_charge and not yes and sys.stdin.isatty():
        typer.confirm(f"{command.describe()} interrupts a charge. Send it?", abort=True)
    cfg = settings()

    async def go() -> CommandResult:
        async with make_client(cfg) as client:
            controller = Controller(client, **({"timeout_s": timeout_s} | CONTROLLER_OPTIONS))
            return await controller.run(
                command, serial=serial or cfg.zappi_serial, wait=not no_wait
            )

    result = run_async(go())
    if as_json:
        _print_json(result.as_dict())
        return
    what = f"zappi {result.serial}: {command.describe()}"
    if not result.confirmed:
        state.console().print(f"{what}: accepted by the cloud (not waiting for the charger)")
        return
    fields = ", ".join(f"{k}={v}" for k, v in (result.state or {}).items())
    note = (
        f"; not in this charger's status: {', '.join(result.unverified)}"
        if result.unverified
        else ""
    )
    state.console().print(
        f"{what}: done (read back {fields}; {result.waited_s:.1f} s){note}", soft_wrap=True
    )


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def mode_cmd(
    mode: ChargeMode = typer.Argument(..., help="fast, eco, eco+ or stop."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Set the charge mode (stop asks first on a terminal)."""
    from ..control import SetMode, charge_mode

    _send(lambda: SetMode(charge_mode(mode.value)), serial, as_json, no_wait, yes, timeout_s)


def boost_cmd(
    energy_kwh: int | None = typer.Argument(None, metavar="[KWH]", help="kWh to add (1..99)."),
    ready_by: str | None = typer.Option(None, "--by", help="Smart boost: ready by HH:MM."),
    stop: bool = typer.Option(False, "--stop", help="Stop a manual or smart boost."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Start a manual boost, a smart boost (--by), or stop a boost (--stop)."""
    from ..control import ManualBoost, SmartBoost, StopBoost, parse_hhmm

    if stop and (energy_kwh is not None or ready_by is not None):
        raise typer.BadParameter("--stop takes no kWh and no --by")
    if not stop and energy_kwh is None:
        raise typer.BadParameter("give the kWh to add, or --stop", param_hint="KWH")

    def build() -> Command:
        if stop:
            return StopBoost()
        assert energy_kwh is not None
        if ready_by is None:
            return ManualBoost(energy_kwh)
        return SmartBoost(energy_kwh, parse_hhmm(ready_by, "--by"))

    _send(build, serial, as_json, no_wait, yes, timeout_s)


def min_green_cmd(
    pct: int = typer.Argument(..., metavar="PCT", help="Minimum green level, 1..100 %."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Set the minimum green level of Eco+."""
    from ..control import SetMinGreen

    _send(lambda: SetMinGreen(pct), serial, as_json, no_wait, yes, timeout_s)


def priority_cmd(
    priority: int = typer.Argument(..., metavar="N", help="1 (first) .. 9."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Set the zappi's priority among the hub's devices."""
    from ..control import SetPriority

    _send(lambda: SetPriority(priority), serial, as_json, no_wait, yes, timeout_s)


def phases_cmd(
    phases: PhaseSetting = typer.Argument(..., help="single, three or auto."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Set the phase setting: single phase, three phase or automatic switching."""
    from ..control import SetPhases, phase_setting

    _send(lambda: SetPhases(phase_setting(phases.value)), serial, as_json, no_wait, yes, timeout_s)


def lock_cmd(
    now: bool | None = typer.Option(None, "--now/--no-now", help="Locked now."),
    plugged: bool | None = typer.Option(None, "--plugged/--no-plugged", help="Lock when plugged."),
    unplugged: bool | None = typer.Option(
        None, "--unplugged/--no-unplugged", help="Lock when unplugged."
    ),
    charging: bool | None = typer.Option(
        None, "--charging/--no-charging", help="Lock when charging."
    ),
    session_allowed: bool | None = typer.Option(
        None, "--session-allowed/--no-session-allowed", help="Charge session allowed."
    ),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Change lock flags; flags not given stay as they are (locking now asks first)."""
    from ..control import LockFlags, SetLocks

    flags = LockFlags(now, plugged, unplugged, charging, session_allowed)
    _send(lambda: SetLocks(flags), serial, as_json, no_wait, yes, timeout_s)


# --- boost timers ----------------------------------------------------------------------------


@timers_app.callback()
def timers_main(
    ctx: typer.Context,
    serial: str | None = _SERIAL,
    as_json: bool = typer.Option(False, "--json", help="The slots as JSON."),
) -> None:
    """Show the boost timers (the default) or set one slot."""
    if ctx.invoked_subcommand is None:
        timers_show(serial, as_json)


@timers_app.command("show")
def timers_show(
    serial: str | None = _SERIAL,
    as_json: bool = typer.Option(False, "--json", help="The slots as JSON."),
) -> None:
    """Show the four boost timer slots."""
    from ..control import Controller, check_serial

    check_serial(serial)
    cfg = settings()

    async def go() -> BoostTimers:
        async with make_client(cfg) as client:
            return await Controller(client).boost_timers(serial=serial or cfg.zappi_serial)

    timers = run_async(go())
    if as_json:
        _print_json(timers.as_dict())
        return
    from rich.table import Table

    table = Table(title=f"Boost timers of zappi {timers.serial} (charger time)")
    for column in ("Slot", "Start", "Duration", "Days"):
        table.add_column(column)
    for timer in timers.timers:
        row = timer.as_dict()
        days = ", ".join(row["days"]) if timer.active else "off"
        table.add_row(str(row["slot"]), row["start"], row["duration"], days)
    state.console().print(table)


@timers_app.command("set")
def timers_set(
    slot: int = typer.Argument(..., metavar="SLOT", help="11, 12, 13 or 14."),
    start: str | None = typer.Option(None, "--start", help="HH:MM (quarter hours)."),
    duration: str | None = typer.Option(None, "--duration", help="H:MM, up to 8:45."),
    days: str | None = typer.Option(None, "--days", help="e.g. mon-fri, sat,sun, all."),
    clear: bool = typer.Option(False, "--clear", help="Switch the slot off."),
    serial: str | None = _SERIAL,
    as_json: bool = _JSON,
    no_wait: bool = _NO_WAIT,
    yes: bool = _YES,
    timeout_s: float = _TIMEOUT,
) -> None:
    """Set one boost timer slot (--start, --duration, --days), or --clear it."""
    from ..control import BoostTimer, SetBoostTimer, parse_days, parse_duration, parse_hhmm

    given = [v is not None for v in (start, duration, days)]
    if clear and any(given):
        raise typer.BadParameter("--clear takes no --start, --duration or --days")
    if not clear and not all(given):
        raise typer.BadParameter("give --start, --duration and --days, or --clear")

    def build() -> Command:
        if clear:
            return SetBoostTimer(BoostTimer.cleared(slot))
        assert start is not None and duration is not None and days is not None
        timer = BoostTimer(
            slot, parse_hhmm(start, "--start"), parse_duration(duration), parse_days(days)
        )
        return SetBoostTimer(timer)

    _send(build, serial, as_json, no_wait, yes, timeout_s)
