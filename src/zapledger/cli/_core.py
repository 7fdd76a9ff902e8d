"""Commands of the foundation: status, history, decode, login, simulate, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ._common import (
    kwh,
    make_client,
    parse_day,
    run_async,
    settings,
    state,
    timezone_name,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..models import History, ZappiStatus


T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
    app.command("history")(history_cmd)
    app.command("decode")(decode_cmd)
    app.command("login")(login_cmd)
    app.command("simulate")(simulate_cmd)
    app.command("demo")(demo_cmd)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- status ----------------------------------------------------------------------------------


def status_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the decoded status as JSON."),
    serial: str | None = typer.Option(None, "--serial", help="Which zappi (default: the first)."),
) -> None:
    """Show the charger's live status."""
    cfg = settings()

    async def fetch() -> ZappiStatus:
        async with make_client(cfg) as client:
            return await client.zappi_status(serial or cfg.zappi_serial)

    status = run_async(fetch())
    if as_json:
        _print_json(status.as_dict())
    else:
        from ..health import zappi_health

        state.console().print(status_panel(status))
        health = zappi_health(status, datetime.now(UTC))
        if health.stale:
            state.console().print(f"[bold yellow]{health.describe()}[/]", highlight=False)


def status_panel(status: ZappiStatus) -> Any:
    """A rich panel of the facts an owner looks at first."""
    from rich.panel import Panel
    from rich.table import Table

    def fmt(value: float | None, unit: str, digits: int = 0) -> str:
        return "—" if value is None else f"{value:,.{digits}f} {unit}"

    def name(value: Any) -> str:
        return "—" if value is None else str(value.name).replace("_", " ").lower()

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    plug = (
        "—" if status.plug_status is None else f"{name(status.plug_status)} ({status.plug_status})"
    )
    rows = [
        ("Mode", name(status.mode)),
        ("Charge status", name(status.charge_status)),
        ("Plug", plug),
        ("Charging power", fmt(status.charge_power_w, "W")),
        ("Charge added", fmt(status.charge_added_kwh, "kWh", 2)),
        ("Grid", _grid_text(status.grid_power_w)),
        ("Generation", fmt(status.generation_power_w, "W")),
        ("Voltage", fmt(status.voltage_v, "V", 1)),
        ("Frequency", fmt(status.frequency_hz, "Hz", 2)),
        ("Current limit", fmt(status.current_limit_a, "A", 1)),
        ("Min green level", fmt(status.min_green_level_pct, "%")),
    ]
    if status.manual_boost_active:
        rows.append(("Boost", f"manual, {fmt(status.manual_boost_kwh, 'kWh')}"))
    if status.smart_boost_active and status.smart_boost is not None:
        sb = status.smart_boost
        rows.append(
            (
                "Boost",
                f"smart, {fmt(sb.energy_kwh, 'kWh')} by {sb.hour or 0:02d}:{sb.minute or 0:02d}",
            )
        )
    if status.locks is not None:
        rows.append(("Locked", "yes" if status.locks.locked_now else "no"))
    for clamp in status.ct_clamps:
        rows.append((f"CT {clamp.index} {clamp.name}", fmt(clamp.power_w, "W")))
    if status.timestamp is not None:
        rows.append(("Measured", status.timestamp.isoformat().replace("+00:00", "Z")))
    for label, value in rows:
        grid.add_row(label, value)
    return Panel(grid, title=f"zappi {status.serial}", subtitle=status.firmware or "", expand=False)


def _grid_text(power_w: float | None) -> str:
    if power_w is None:
        return "—"
    direction = "importing" if power_w >= 0 else "exporting"
    return f"{abs(power_w):,.0f} W {direction}"


# --- history ---------------------------------------------------------------------------------


def history_cmd(
    day: str = typer.Argument(..., metavar="DATE", help="First local day (YYYY-MM-DD)."),
    to: str | None = typer.Option(None, "--to", help="Last local day, inclusive."),
    minute: bool = typer.Option(False, "--minute", help="Per-minute records."),
    hourly: bool = typer.Option(False, "--hourly", help="Per-hour records (the default)."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
    serial: str | None = typer.Option(None, "--serial", help="Which zappi (default: the first)."),
) -> None:
    """Fetch the energy history of local days from the cloud and print it."""
    from ..models import Resolution

    if minute and hourly:
        raise typer.BadParameter("choose one of --minute and --hourly")
    if as_csv and as_json:
        raise typer.BadParameter("choose one of --csv and --json")
    first = parse_day(day)
    last = parse_day(to, "--to") if to else first
    cfg = settings()
    zone = timezone_name(tz, cfg)
    resolution = Resolution.MINUTE if minute else Resolution.HOUR

    async def fetch() -> list[History]:
        async with make_client(cfg) as client:
            return await client.local_days(
                first, last, zone, serial=serial or cfg.zappi_serial, resolution=resolution
            )

    histories = run_async(fetch())
    records = [r for h in histories for r in h.records]
    if as_json:
        _print_json([r.as_dict() for r in records])
    elif as_csv:
        _write_csv(r.as_dict() for r in records)
    else:
        console = state.console()
        console.print(history_table(histories, zone))
        missing = sum(h.missing for h in histories)
        if missing:
            console.print(f"[yellow]{missing} {resolution.value}(s) missing in the cloud's data[/]")


async def _zappi_serial(client: Client, serial: str | None) -> str:
    return await client.resolve_zappi(serial)


def _write_csv(rows: Any) -> None:
    import csv

    writer: csv.DictWriter[str] | None = None
    for row in rows:
        flat = {k: v for k, v in row.items() if not isinstance(v, dict | list)}
        if writer is None:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(flat), lineterminator="\n")
            writer.writeheader()
        writer.writerow(flat)


def history_table(histories: list[History], zone: str) -> Any:
    """A table of records in local time, kWh per column, with a total row."""
    from rich.table import Table

    from ..localtime import to_local

    table = Table(title=f"Energy (kWh), local time {zone}", show_footer=True)
    columns = ("import_j", "export_j", "generation_j", "diverted_j", "boosted_j")
    labels = ("Import", "Export", "Generation", "EV solar", "EV boost")
    totals = dict.fromkeys(columns, 0)
    table.add_column("Local time", footer="Total", no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("V", justify="right")
    for history in histories:
        for rec in history.records:
            values = [int(getattr(rec, c)) for c in columns]
            for c, v in zip(columns, values, strict=True):
                totals[c] += v
            local = to_local(rec.timestamp, zone)
            volts = "—" if rec.voltage_v is None else f"{rec.voltage_v:.1f}"
            table.add_row(local.strftime("%m-%d %H:%M %Z"), *(kwh(v) for v in values), volts)
    for column, c in zip(table.columns[1:6], columns, strict=True):
        column.footer = kwh(totals[c])
    return table


# --- decode ----------------------------------------------------------------------------------


def decode_cmd(
    file: str = typer.Argument(..., help="A saved jstatus/jday/jdayhour payload, or - for stdin."),
    as_json: bool = typer.Option(True, "--json/--table", help="JSON (default) or a table."),
    max_bytes: int | None = typer.Option(
        None,
        "--max-bytes",
        min=1,
        help="Refuse a payload larger than this (default: the max_payload_bytes setting, 16 MiB).",
    ),
) -> None:
    """Decode a saved payload to the same JSON zapledger uses (for debugging and support)."""
    from ..exceptions import BadResponseError
    from ..models import SiteStatus, decode_any, read_limited

    limit = max_bytes or settings().max_payload_bytes
    if file == "-":
        data = read_limited(sys.stdin.buffer, limit, "stdin")
        name = "stdin"
    else:
        try:
            with Path(file).open("rb") as fh:
                data = read_limited(fh, limit, file)
        except OSError as exc:
            raise BadResponseError(f"cannot read {file}: {exc.strerror or exc}") from None
        name = file
    decoded = decode_any(data, name=name, max_bytes=limit)
    if as_json or not isinstance(decoded, SiteStatus):
        _print_json(decoded.as_dict())
    else:
        for zappi in decoded.zappis:
            state.console().print(status_panel(zappi))


# --- login -----------------------------------------------------------------------------------


def login_cmd(
    hub_serial: str = typer.Option(..., prompt="Hub serial", help="Digits on the hub's label."),
    api_key_stdin: bool = typer.Option(
        False, "--api-key-stdin", help="Read the API key from stdin (for scripts and pipes)."
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        help="The key on the command line: AVOID, other users can see it in the process "
        "list and it stays in your shell history. Without it you are asked (hidden input).",
    ),
    director_url: str | None = typer.Option(None, help="Another director (tests, simulator)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Try the credentials first."),
) -> None:
    """Store the hub serial and API key in the user config file (mode 0600).

    The key is asked for with hidden input, or read from stdin with --api-key-stdin.
    """
    from dataclasses import replace

    from ..config import (
        Secret,
        Settings,
        load_settings,
        save_settings,
        validate_director_url,
        validate_serial,
    )
    from ..exceptions import ConfigError
    from ..redact import register_secret

    if api_key is not None and api_key_stdin:
        raise typer.BadParameter("choose one of --api-key and --api-key-stdin")
    try:
        serial = validate_serial(hub_serial)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--hub-serial") from None
    if api_key_stdin:
        key = sys.stdin.readline(4097).strip()
    elif api_key is not None:
        key = api_key.strip()
    else:
        key = str(typer.prompt("API key", hide_input=True)).strip()
    if not key or len(key) > 4096:
        raise typer.BadParameter("the API key is empty (or over 4096 characters)")
    register_secret(key)
    current = load_settings(environ={})
    new = replace(
        current,
        hub_serial=serial,
        api_key=Secret(key),
        director_url=validate_director_url(director_url) if director_url else current.director_url,
    )
    if check:
        settings_to_try: Settings = new

        async def probe() -> None:
            async with make_client(settings_to_try) as client:
                await client.site_status()

        run_async(probe())
    path = save_settings(new)
    state.console().print(f"credentials saved to {path}")


# --- simulator and demo ----------------------------------------------------------------------


def simulate_cmd(
    port: int = typer.Option(8423, min=0, max=65535, help="Director port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless told)."),
    seed: int = typer.Option(1, help="Seed of the simulated household."),
    latency_ms: str = typer.Option(
        "0", help="Delay added to every answer, ms: fixed ('300') or a random range ('100-900')."
    ),
    faults: str = typer.Option("", help="e.g. '500=0.05,429=0.02,timeout=0.01,asn-change=200'."),
    command_faults: str = typer.Option(
        "", help="Device faults of commands, e.g. 'busy=0.1,invalid=0.05,fail=0.05,stall=0.01'."
    ),
    throttle: str | None = typer.Option(
        None, help="Token bucket per account answering 429 + Retry-After: '3' or '3/s,burst=5'."
    ),
    history_outage: str | None = typer.Option(
        None, help="History answers 'empty' or 'partial', optionally for MINUTES ('empty:30')."
    ),
    hub_serial: str = typer.Option("10088888", help="Hub serial the simulator accepts."),
    api_key: str | None = typer.Option(
        None,
        help="API key the simulator accepts (default: the demo key 'sim-api-key', which is "
        "refused on any address but loopback).",
    ),
) -> None:
    """Run the built-in myenergi cloud simulator in the foreground (Ctrl-C stops it)."""
    from ..listen import exposure_warning, is_loopback
    from ..simulator import CommandFaults, Faults, Simulator, serve_forever
    from ..simulator._throttle import HistoryOutage, Latency, Throttle
    from ..simulator.server import DEMO_API_KEY

    _checked("--faults", Faults.parse, faults)
    _checked("--latency-ms", Latency.parse, latency_ms)
    options: dict[str, Any] = {
        "command_faults": _checked("--command-faults", CommandFaults.parse, command_faults)
    }
    if throttle:
        options["throttle"] = _checked("--throttle", Throttle.parse, throttle)
    if history_outage:
        start = datetime.now(UTC)
        outage = _checked(
            "--history-outage", lambda s: HistoryOutage.parse(s, start), history_outage
        )
        options["history_outage"] = outage
    if not (hub_serial.isascii() and hub_serial.isdigit()):
        raise typer.BadParameter("digits 0-9 only", param_hint="--hub-serial")
    if api_key is not None and not api_key.strip():
        raise typer.BadParameter("the API key is empty", param_hint="--api-key")
    key = api_key or DEMO_API_KEY
    if key == DEMO_API_KEY and not is_loopback(host):
        raise typer.BadParameter(
            f"refusing to listen on {host or 'every interface'} with the well-known demo key: "
            "give your own --api-key",
            param_hint="--host",
        )
    console = state.console()
    shown_key = key if key == DEMO_API_KEY else "<your --api-key>"

    def ready(sim: Simulator) -> None:
        warning = exposure_warning("the simulator", host, sim.bound)
        if warning:
            state.err_console().print(f"[yellow]{warning}[/]", soft_wrap=True)
        zappi = sim.household.zappi_serials[0]
        console.print(f"simulator listening on http://{sim.bound} (servers: {sim.servers})")
        console.print(f"  hub serial {hub_serial}, API key {shown_key}, zappi {zappi}")
        console.print(
            f"  try: ZAPLEDGER_DIRECTOR_URL={sim.url} ZAPLEDGER_HUB_SERIAL={hub_serial} "
            f"ZAPLEDGER_API_KEY={shown_key} zapledger status"
        )
        console.print("  Ctrl-C stops it")

    from ..exceptions import ConfigError

    try:
        serve_forever(
            port, seed, latency_ms, faults, host, hub_serial, key, on_ready=ready, **options
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    console.print("stopped")


def _checked(hint: str, parse: Callable[[str], T], value: str) -> T:
    """``parse(value)``; a ValueError becomes a usage error naming the option."""
    try:
        return parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def demo_cmd(
    days: int = typer.Option(30, min=1, max=366, help="Days of history to sync."),
    out: Path = typer.Option(Path("demo-output"), help="Folder for the database and report."),
    tz: str = typer.Option("Europe/London", help="Time zone of the simulated household."),
) -> None:
    """Run the main job end to end against the built-in simulator (no credentials needed)."""
    from ._demo import run_demo

    run_demo(state.console(), days=days, out=out, tz=tz)
