"""Commands of the energy balance: ``report``, ``chart`` and ``export``.

They read the store only. ``zapledger.report`` (and through it matplotlib, jinja2, pyarrow) is
imported inside the commands so that ``zapledger --help`` stays fast.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..models import ChartKind, ExportFormat, ExportResolution, Period
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
    from ..report import BalanceReport, PeriodBalance


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report_cmd)
    app.command("chart")(chart_cmd)
    app.command("export")(export_cmd)


def report_cmd(
    period: Period = typer.Option(Period.DAY, "--period", help="Rows per period."),
    from_: str | None = from_option(
        "First local day (default: the period's window, e.g. the month of --to for days)."
    ),
    to: str | None = to_option(),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the periods."),
    serial: str | None = typer.Option(None, "--serial", help="One zappi (default: whole site)."),
    table: bool = typer.Option(False, "--table", help="A table with totals (the default)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
    html: Path | None = typer.Option(
        None, "--html", metavar="DIR", help="Write the HTML report into DIR and print its path."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite output files that exist."),
) -> None:
    """Energy balance per hour, day, month or year from the stored history."""
    if sum((table, as_csv, as_json)) > 1:
        raise typer.BadParameter("choose one of --table, --csv and --json")
    cfg = settings()
    zone = timezone_name(tz, cfg)
    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    with open_store(cfg, read_only=True) as store:
        if html is not None:
            from ..report import write_html_report
            from ..tariffs import load_tariffs

            path = write_html_report(
                store,
                first,
                last,
                zone,
                out_dir=html,
                serial=serial,
                force=force,
                tariffs=load_tariffs(),
            )
            state.console().print(f"HTML report written to {path}", soft_wrap=True)
            return
        from ..report import balance
        from ..tariffs import load_tariffs

        tariffs = load_tariffs()
        report = balance(store, first, last, zone, period=period, serial=serial, tariffs=tariffs)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    elif as_csv:
        _report_csv(report)
    else:
        _report_table(report)


def _report_csv(report: BalanceReport) -> None:
    rows = [r.as_dict(report.tz) for r in report.rows]
    rows.append(report.total.as_dict(report.tz))
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["problems"] = "; ".join(row["problems"])
        row["complete"] = "true" if row["complete"] else "false"
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def _cells(row: PeriodBalance) -> list[str]:
    e = row.energy
    return [
        kwh(e.import_j),
        kwh(e.export_j),
        kwh(e.generation_j),
        kwh(e.diverted_j),
        kwh(e.boosted_j),
        kwh(e.ev_j),
        kwh(e.house_j),
        _pct(e.self_consumption_rate),
        _pct(e.self_sufficiency_rate),
        _pct(e.ev_solar_share),
        "ok" if row.coverage.complete else "[yellow]incomplete[/]",
    ]


_HEADERS = (
    "Import",
    "Export",
    "Generation",
    "EV\nsolar",
    "EV\ngrid",
    "EV\ntotal",
    "House",
    "Self\ncons.",
    "Self\nsuff.",
    "EV solar\nshare",
    "Data",
)
#: Lines of detail printed under the table for incomplete periods, at most.
MAX_PROBLEM_LINES = 20


def _report_table(report: BalanceReport) -> None:
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table

    who = f"zappi {report.serial}" if report.serial else "whole site"
    table = Table(
        title=f"Energy balance (kWh), {report.first_day} to {report.last_day}, {report.tz}, {who}",
        show_footer=True,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column(report.period.value.capitalize(), footer="Total", no_wrap=True)
    for header, foot in zip(_HEADERS, _cells(report.total), strict=True):
        table.add_column(header, justify="right", footer=foot, no_wrap=True)
    for row in report.rows:
        table.add_row(row.label, *_cells(row))
    console = state.console()
    # numbers are never cut short: in a narrow terminal the lines wrap instead
    needed = Measurement.get(console, console.options.update_width(1000), table).maximum
    console.width = max(console.width, needed)
    console.print(table)
    bad = report.incomplete
    if bad:
        console.print(
            f"[yellow]{len(bad)} of {len(report.rows)} {report.period.value}(s) incomplete; "
            "their sums count only the data that is stored:[/]"
        )
        for row in bad[:MAX_PROBLEM_LINES]:
            console.print(f"  {row.label}: {', '.join(row.coverage.problems())}", soft_wrap=True)
        if len(bad) > MAX_PROBLEM_LINES:
            console.print(f"  … and {len(bad) - MAX_PROBLEM_LINES} more")
    if report.cost is not None:
        _cost_table(report)
    for note in report.notes + (report.cost.notes if report.cost else ()):
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)


_COST_HEADERS = (
    ("import_cost", "Import\ncost"),
    ("export_revenue", "Export\nrevenue"),
    ("standing_charge", "Standing\ncharge"),
    ("net_cost", "Net\ncost"),
    ("ev_grid_cost", "EV grid\ncost"),
    ("ev_solar_value", "EV solar\nvalue"),
    ("savings", "Solar\nsavings"),
)


def _cost_table(report: BalanceReport) -> None:
    """The cost layer as its own table, one row per period (docs/formulas.md)."""
    from rich import box
    from rich.table import Table

    cost = report.cost
    assert cost is not None
    table = Table(
        title=f"Cost ({cost.currency}); +? = part of it has no price",
        show_footer=True,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    totals = cost.total.amounts()
    table.add_column(report.period.value.capitalize(), footer="Total", no_wrap=True)
    for key, header in _COST_HEADERS:
        table.add_column(header, justify="right", footer=totals[key].text(), no_wrap=True)
    for row, c in zip(report.rows, cost.rows, strict=True):
        amounts = c.amounts()
        table.add_row(row.label, *(amounts[key].text() for key, _ in _COST_HEADERS))
    state.console().print(table)


# --- chart -----------------------------------------------------------------------------------


def _parse_when(when: str | None, tz: str) -> tuple[str, date]:
    """``YYYY-MM-DD`` → day, ``YYYY-MM`` → month, ``YYYY`` → year (default: this month)."""
    if when is None:
        from ..localtime import today

        return "month", today(tz).replace(day=1)
    from ..exceptions import UsageError
    from ..localtime import check_day

    parts = when.split("-")
    try:
        if len(parts) == 1:
            return "year", check_day(date(int(parts[0]), 1, 1))
        if len(parts) == 2:
            return "month", check_day(date(int(parts[0]), int(parts[1]), 1))
        return "day", check_day(date.fromisoformat(when))
    except UsageError as exc:
        raise typer.BadParameter(str(exc), param_hint="WHEN") from None
    except (ValueError, OverflowError):
        raise typer.BadParameter(
            f"{when!r} is not YYYY, YYYY-MM or YYYY-MM-DD", param_hint="WHEN"
        ) from None


def chart_cmd(
    when: str | None = typer.Argument(
        None, metavar="WHEN", help="YYYY-MM-DD (per hour), YYYY-MM (per day), YYYY (everything)."
    ),
    kind: ChartKind = typer.Option(ChartKind.ALL, "--kind", help="Only charts of this kind."),
    out: Path = typer.Option(Path("charts"), "--out", help="Folder for the PNG files."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone."),
    serial: str | None = typer.Option(None, "--serial", help="One zappi (default: whole site)."),
    years: int = typer.Option(3, "--years", min=1, max=20, help="Years in the comparison."),
    force: bool = typer.Option(False, "--force", help="Overwrite output files that exist."),
) -> None:
    """Write PNG charts of the balance of a day, a month or a year."""
    from ..report import charts_of_day, charts_of_month, charts_of_year, save_charts

    cfg = settings()
    zone = timezone_name(tz, cfg)
    scope, at = _parse_when(when, zone)
    with open_store(cfg, read_only=True) as store:
        kinds = None if kind is ChartKind.ALL else {kind.value}
        if scope == "day":
            charts = charts_of_day(store, at, zone, serial=serial)
        elif scope == "month":
            charts = charts_of_month(store, at.year, at.month, zone, serial=serial, kinds=kinds)
        else:
            charts = charts_of_year(store, at.year, zone, serial=serial, years=years, kinds=kinds)
    if kinds is not None:
        charts = [c for c in charts if c.name.startswith(f"{kind.value}-")]
        if not charts:
            raise typer.BadParameter(
                f"no {kind.value} chart for {when or 'this month'}", param_hint="--kind"
            )
    console = state.console()
    for path in save_charts(charts, out, force=force):
        console.print(str(path), soft_wrap=True)


# --- export ----------------------------------------------------------------------------------


def export_cmd(
    resolution: ExportResolution = typer.Option(ExportResolution.HOUR, "--resolution"),
    fmt: ExportFormat = typer.Option(ExportFormat.CSV, "--format", help="csv, jsonl or parquet."),
    from_: str | None = from_option("First local day (default: the 1st of the month of --to)."),
    to: str | None = to_option(),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of local times and days."),
    serial: str | None = typer.Option(None, "--serial", help="One zappi (default: whole site)."),
    out: str = typer.Option("-", "--out", "-o", help="Output file ('-': stdout)."),
    force: bool = typer.Option(False, "--force", help="Overwrite output files that exist."),
) -> None:
    """Export stored energy (kWh and J, UTC and local time) as CSV, JSON Lines or Parquet."""
    from ..report import export_rows, write_export
    from ..tariffs import load_tariffs

    if fmt is ExportFormat.PARQUET and out == "-":
        raise typer.BadParameter("Parquet needs a file: give --out FILE", param_hint="--out")
    if out != "-":
        from ..outputs import claim

        claim([Path(out)], force=force)
    cfg = settings()
    zone = timezone_name(tz, cfg)
    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    with open_store(cfg, read_only=True) as store:
        rows = export_rows(
            store, first, last, zone, resolution=resolution, serial=serial, tariffs=load_tariffs()
        )
        if out == "-":
            count = write_export(rows, fmt, sys.stdout.buffer)
        else:
            count = write_export(rows, fmt, Path(out), force=force)
    if out != "-":
        state.err_console().print(f"{count} row(s) written to {out}", soft_wrap=True)
