"""``zapledger sessions``: the EV charge sessions of a range of local days.

Reads the store only; the rules are ``zapledger.sessions``'s, this module only renders.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._common import (
    from_option,
    kwh,
    open_store,
    optional_day,
    settings,
    state,
    timezone_name,
    to_option,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..sessions import ChargeSession, SessionReport

#: Columns of ``--csv``: one row per session, the fields of ``ChargeSession.as_dict``.
CSV_COLUMNS = (
    "serial",
    "start",
    "end",
    "start_local",
    "end_local",
    "duration_s",
    "energy_kwh",
    "diverted_kwh",
    "boosted_kwh",
    "energy_j",
    "diverted_j",
    "boosted_j",
    "solar_share",
    "peak_power_w",
    "mean_power_w",
    "modes",
    "missing_minutes",
    "missing",
    "plugged_in_at",
    "unplugged_at",
    "end_reason",
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("sessions")(sessions_cmd)


def sessions_cmd(
    from_: str | None = from_option("First local day (default: the 1st of the month of --to)."),
    to: str | None = to_option(),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days and times."),
    serial: str | None = typer.Option(None, "--serial", help="One zappi (default: every zappi)."),
    pause: int = typer.Option(
        30,
        "--pause",
        metavar="MIN",
        min=1,
        max=1440,
        help="Minutes without energy that end a session (1 to 1440).",
    ),
    table: bool = typer.Option(False, "--table", help="A table with totals (the default)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout, one row per session."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
    reimbursement: str | None = typer.Option(
        None,
        "--reimbursement",
        metavar="MONTH",
        help="Write the company-car claim of MONTH (YYYY-MM): a CSV and a printable HTML page.",
    ),
    out: Path = typer.Option(Path("."), "--out", help="Folder of the claim files."),
    force: bool = typer.Option(False, "--force", help="Replace existing claim files."),
) -> None:
    """EV charge sessions from the stored minute history: kWh, solar and grid, power, modes."""
    from ..sessions import sessions

    if sum((table, as_csv, as_json)) > 1:
        raise typer.BadParameter("choose one of --table, --csv and --json")
    cfg = settings()
    zone = timezone_name(tz, cfg)
    if reimbursement is not None:
        _claim(reimbursement, zone, serial, timedelta(minutes=pause), out, force)
        return
    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    with open_store(cfg) as store:
        report = sessions(store, first, last, zone, serial=serial, pause=timedelta(minutes=pause))
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    elif as_csv:
        write_csv(report)
    else:
        print_sessions(state.console(), report)


def _claim(
    month: str, zone: str, serial: str | None, pause: timedelta, out: Path, force: bool
) -> None:
    """``--reimbursement``: the month's sessions priced at the configured tariffs, as files."""
    from ..exceptions import ConfigError
    from ..report import reimbursement, write_claim
    from ..tariffs import load_tariffs

    tariffs = load_tariffs()
    if tariffs is None:
        raise ConfigError("the claim needs tariffs: add a [tariffs] table (docs/tariffs.md)")
    with open_store(settings()) as store:
        claim = reimbursement(store, month, zone, tariffs, serial=serial, pause=pause)
    csv_path, html_path = write_claim(claim, out, force=force)
    total = claim.total
    console = state.console()
    console.print(
        f"{len(claim.sessions)} session(s), {kwh(claim.energy_j)} kWh, "
        f"{total.text()} {claim.currency}",
        soft_wrap=True,
    )
    if total.unpriced:
        console.print(
            f"[yellow]{total.unpriced} minute(s) of charging have no price: the amount is "
            "incomplete (+?).[/]"
        )
    console.print(str(csv_path), soft_wrap=True)
    console.print(str(html_path), soft_wrap=True)


def _csv_value(key: str, value: Any) -> Any:
    if key == "modes":
        return " ".join(value)
    if key == "missing":
        return " ".join(f"{m['from']}/{m['to']}" for m in value)
    return "" if value is None else value


def write_csv(report: SessionReport) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in report.sessions:
        row = s.as_dict(report.tz)
        writer.writerow([_csv_value(c, row[c]) for c in CSV_COLUMNS])


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def _cells(s: ChargeSession, tz: str) -> list[str]:
    from ..localtime import to_local

    start, end = to_local(s.start, tz), to_local(s.end, tz)
    end_fmt = "%H:%M %Z" if end.date() == start.date() else "%Y-%m-%d %H:%M %Z"
    return [
        start.strftime("%Y-%m-%d %H:%M %Z"),
        end.strftime(end_fmt),
        _duration(s.duration),
        kwh(s.energy_j),
        kwh(s.diverted_j),
        kwh(s.boosted_j),
        _pct(s.solar_share),
        f"{s.peak_power_w / 1000:.2f}",
        ", ".join(s.modes) or "—",
        f"[yellow]{s.missing_minutes}[/]" if s.missing_minutes else "0",
    ]


def sessions_table(report: SessionReport) -> Table:
    """The sessions as a rich table with a total row (kWh and local time: the display edge)."""
    from rich import box
    from rich.table import Table

    who = f"zappi {report.serial}" if report.serial else "every zappi"
    table = Table(
        title=(f"EV charge sessions, {report.first_day} to {report.last_day}, {report.tz}, {who}"),
        show_footer=True,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    footers = [
        f"{len(report.sessions)} session(s)",
        "",
        "",
        kwh(report.energy_j),
        kwh(report.diverted_j),
        kwh(report.boosted_j),
        _pct(report.solar_share),
        "",
        "",
        str(report.missing_minutes),
    ]
    headers = (
        "Start",
        "End",
        "Duration",
        "kWh",
        "Solar\nkWh",
        "Grid\nkWh",
        "Solar",
        "Peak\nkW",
        "Modes",
        "Missing\nmin",
    )
    for i, (header, foot) in enumerate(zip(headers, footers, strict=True)):
        table.add_column(
            header, footer=foot, justify="left" if i in (0, 1, 8) else "right", no_wrap=True
        )
    for s in report.sessions:
        table.add_row(*_cells(s, report.tz))
    return table


def print_sessions(console: Console, report: SessionReport) -> None:
    """The table, and a note on sessions that are not over or that have missing minutes."""
    from rich.measure import Measurement

    table = sessions_table(report)
    needed = Measurement.get(console, console.options.update_width(1000), table).maximum
    console.width = max(console.width, needed)
    console.print(table)
    gappy = sum(1 for s in report.sessions if s.missing_minutes)
    if gappy:
        console.print(
            f"[yellow]{gappy} session(s) have minutes missing from the stored history; "
            "their sums count only the stored minutes.[/]"
        )
    still = sum(1 for s in report.sessions if s.end_reason.value == "open")
    if still:
        console.print(
            f"[yellow]{still} session(s) may not be over: the stored data ends within the pause.[/]"
        )
