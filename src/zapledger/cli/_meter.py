"""Commands of the household meters: ``meter read``, ``meter import`` and ``reconcile``."""

from __future__ import annotations

import csv
import json
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..models import DsmrVersion, MeterFileFormat, Period
from ._common import (
    from_option,
    open_store,
    optional_day,
    settings,
    state,
    timezone_name,
    to_option,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

    from ..demo import DemoMeters
    from ..meters import ReadStats, StoreWriter
    from ..reconciliation import ReconcileReport

__all__ = ["print_demo_meters", "print_read_stats", "print_reconcile_summary", "register"]

meter_app = typer.Typer(
    name="meter",
    help="Read the household's meters (DSMR P1, HomeWizard, CSV) into the database.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``meter read``/``meter import`` and ``reconcile`` to the app."""
    meter_app.command("read")(read_cmd)
    meter_app.command("import")(import_cmd)
    app.add_typer(meter_app)
    app.command("reconcile")(reconcile_cmd)


# --- printing --------------------------------------------------------------------------------


def print_read_stats(console: Console, stats: ReadStats, *, issues: int = 10) -> None:
    """One paragraph per source: what was read and stored, what was bad and where."""
    span = ""
    if stats.first is not None and stats.last is not None:
        span = f", {_iso(stats.first)} … {_iso(stats.last)}"
    meters = ", ".join(sorted(stats.meter_ids)) or "—"
    console.print(
        f"[bold]{stats.source}[/]: {stats.units} read, {stats.accepted} used, "
        f"{stats.stored} readings stored"
        + (f" ({stats.thinned} thinned)" if stats.thinned else "")
        + f"{span}; meter {meters}"
    )
    if stats.bad:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.issue_counts.items()))
        console.print(f"  [yellow]{stats.bad} issues (bad input is never stored): {kinds}[/]")
        for issue in stats.issues[:issues]:
            console.print(f"  {issue}", markup=False)
        if stats.bad > issues:
            console.print(f"  … and {stats.bad - min(issues, len(stats.issues))} more")


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def print_reconcile_summary(console: Console, report: ReconcileReport) -> None:
    """The summary per pair: bias, mean |difference|, drift, what was left out, worst hours."""
    from rich.table import Table

    table = Table(
        title=f"zappi vs meters, {report.first_day} – {report.last_day} ({report.tz})",
        caption="Δ = meter − zappi; bias = Σ meter / Σ zappi − 1 over the hours compared",
    )
    table.add_column("Pair", no_wrap=True)
    for name in ("Hours", "zappi kWh", "meter kWh", "Bias %", "|Δ| kWh/h", "Drift pp/mo", "Flags"):
        table.add_column(name, justify="right")
    for s in report.summaries:
        table.add_row(
            s.pair,
            f"{s.hours_compared}/{s.hours}",
            f"{s.zappi_kwh:.3f}",
            f"{s.meter_kwh:.3f}",
            _num(s.bias_pct, "+.2f"),
            _num(s.mean_abs_difference_kwh, ".4f"),
            _num(s.drift_pct_per_month, "+.2f"),
            str(s.flagged_periods),
        )
    console.print(table)
    if not report.summaries:
        console.print("[yellow]no meter readings in this span: nothing to compare[/]")
    for s in report.summaries:
        console.print(f"[bold]{s.pair}[/]: {s.zappi_label} vs {s.meter_label}")
        if s.excluded:
            left_out = ", ".join(f"{reason} {n}" for reason, n in sorted(s.excluded.items()))
            console.print(f"  hours left out: {left_out}")
        worst = [c for c in s.worst_hours[:3] if abs(c.difference_kwh or 0.0) >= 0.0005]
        if worst:
            text = "; ".join(f"{c.period} {c.difference_kwh or 0.0:+.3f} kWh" for c in worst)
            console.print(f"  worst hours: {text}")


def _rows_table(report: ReconcileReport) -> Any:
    from rich.table import Table

    table = Table(title=f"Per {report.period.value} (tolerance ±{report.tolerance_pct:g} %)")
    for name in ("Period", "Pair", "zappi kWh", "meter kWh", "Δ kWh", "Δ %", "", "Reasons"):
        table.add_column(name, justify="left" if name in ("Period", "Pair", "Reasons") else "right")
    for r in report.rows:
        flag = "[red]![/]" if r.flagged else ""
        table.add_row(
            r.period,
            r.pair,
            _num(r.zappi_kwh, ".3f"),
            _num(r.meter_kwh, ".3f") + ("~" if r.estimated and r.meter_kwh is not None else ""),
            _num(r.difference_kwh, "+.3f"),
            _num(r.relative_pct, "+.2f"),
            flag,
            ", ".join(r.reasons),
        )
    return table


def print_demo_meters(console: Console, result: DemoMeters) -> None:
    """What the demo's meter step imported and how the zappi compares."""
    for stats in result.imports:
        print_read_stats(console, stats)
    print_reconcile_summary(console, result.report)
    console.print(f"meter data in {result.out_dir}; comparison chart {result.chart}")


# --- meter read --------------------------------------------------------------------------------


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM end a reader cleanly (its last readings are still written)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def read_cmd(
    serial_port: str | None = typer.Option(
        None, "--port", help="Serial device (or pyserial URL) of the P1 cable, e.g. /dev/ttyUSB0."
    ),
    tcp: str | None = typer.Option(None, "--tcp", help="HOST:PORT of a ser2net-style socket."),
    homewizard: str | None = typer.Option(
        None, "--homewizard", help="Host (or host:port) of a HomeWizard P1 dongle."
    ),
    dsmr: DsmrVersion | None = typer.Option(
        None,
        "--dsmr",
        help="DSMR version (default: recognised; 5 on a serial port; 2.2 is 9600 7E1).",
    ),
    meter_id: str | None = typer.Option(None, "--meter-id", help="Override the meter's id."),
    every: float = typer.Option(
        60.0, "--every", min=0, help="Store at most one reading per channel in SECONDS (0: all)."
    ),
    interval: float = typer.Option(10.0, "--interval", min=1, help="HomeWizard poll interval s."),
    count: int | None = typer.Option(None, "--count", min=1, help="Stop after N telegrams/polls."),
    capture: Path | None = typer.Option(
        None, "--capture", help="Also append the raw telegrams to this file (re-importable)."
    ),
    reconnect: bool = typer.Option(
        True, "--reconnect/--no-reconnect", help="TCP: reconnect when the socket closes."
    ),
) -> None:
    """Read a meter continuously and store its readings (run it as a service)."""
    chosen = [x for x in (serial_port, tcp, homewizard) if x]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --port, --tcp and --homewizard")
    from ..meters import StoreWriter

    console = state.console()
    with open_store() as store:

        def flushed(n: int) -> None:
            console.print(f"{_iso(datetime.now(UTC))} stored {n} readings", highlight=False)

        writer = StoreWriter(store, every_s=every, on_flush=flushed)
        try:
            if homewizard:
                stats = _read_homewizard(homewizard, writer, interval, count, meter_id)
            else:
                version = dsmr
                if serial_port and version is None:
                    version = DsmrVersion.V5
                stats = _read_dsmr(
                    serial_port, tcp, version, writer, meter_id, count, capture, reconnect
                )
        finally:
            writer.flush()
    print_read_stats(console, writer.account(stats))


def _read_dsmr(
    serial_port: str | None,
    tcp: str | None,
    version: Any,
    writer: StoreWriter,
    meter_id: str | None,
    count: int | None,
    capture: Path | None,
    reconnect: bool,
) -> ReadStats:
    from ..meters import read_serial, read_tcp

    stop = threading.Event()
    # latin-1 keeps every byte as it came, a garbled telegram included (re-import flags it)
    try:
        capture_fh = capture.open("a", encoding="latin-1", newline="") if capture else None
    except OSError as exc:
        from ..exceptions import OutputError

        raise OutputError(f"cannot write {capture}: {exc.strerror or exc}") from None
    try:
        with _stop_on_signals(stop):
            if serial_port:
                return read_serial(
                    serial_port,
                    version,
                    sink=writer,
                    meter_id=meter_id,
                    stop=stop,
                    max_telegrams=count,
                    capture=capture_fh,
                )
            assert tcp is not None
            host, _, port = tcp.rpartition(":")
            if not host or not port.isdigit():
                raise typer.BadParameter("--tcp takes HOST:PORT", param_hint="--tcp")
            return read_tcp(
                host.strip("[]"),
                int(port),
                version,
                sink=writer,
                meter_id=meter_id,
                stop=stop,
                max_telegrams=count,
                reconnect=reconnect,
                capture=capture_fh,
            )
    finally:
        if capture_fh is not None:
            capture_fh.close()


def _read_homewizard(
    host: str, writer: StoreWriter, interval: float, count: int | None, meter_id: str | None
) -> ReadStats:
    import asyncio

    from ..meters import poll_homewizard
    from ._common import run_async

    async def go() -> ReadStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await poll_homewizard(
                host, sink=writer, interval_s=interval, count=count, meter_id=meter_id, stop=stop
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return run_async(go())


# --- meter import -------------------------------------------------------------------------------


def import_cmd(
    files: list[Path] = typer.Argument(..., help="Telegram captures or CSV files."),
    file_format: MeterFileFormat = typer.Option(
        MeterFileFormat.AUTO, "--format", help="auto, dsmr or csv."
    ),
    dsmr: DsmrVersion | None = typer.Option(
        None, "--dsmr", help="DSMR version of a capture (default: recognised)."
    ),
    meter_id: str | None = typer.Option(None, "--meter-id", help="Meter id to store under."),
    start: str | None = typer.Option(
        None, "--start", help="Time of the first telegram of a capture without times (ISO 8601)."
    ),
    interval: float | None = typer.Option(
        None,
        "--interval",
        min=0.001,
        max=86_400.0,
        help="Seconds between telegrams of such a capture.",
    ),
    tz: str | None = typer.Option(None, "--tz", help="Zone of CSV times without an offset."),
    every: float = typer.Option(
        0.0, "--every", min=0, help="Keep at most one reading per channel in SECONDS."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Load captured telegrams or a CSV of totalisers into the database (idempotent)."""
    from ..exceptions import MeterError
    from ..meters import import_file

    begin: datetime | None = None
    if start:
        try:
            begin = datetime.fromisoformat(start)
        except ValueError:
            raise typer.BadParameter(
                "--start takes an ISO 8601 time", param_hint="--start"
            ) from None
        if begin.tzinfo is None:
            raise typer.BadParameter("--start needs an offset or Z", param_hint="--start")
        from ..localtime import check_time

        try:
            check_time(begin, "--start")
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--start") from None
    step = timedelta(seconds=interval) if interval else None
    zone = timezone_name(tz) if file_format is not MeterFileFormat.DSMR else "UTC"
    console = state.console()
    results = []
    with open_store() as store:
        for file in files:
            stats = import_file(
                file,
                store,
                file_format=file_format,
                version=dsmr,
                meter_id=meter_id,
                start=begin,
                interval=step,
                tz=zone,
                every_s=every,
                max_bytes=settings().max_file_bytes,
            )
            results.append(stats)
            if not as_json:
                print_read_stats(console, stats)
    if as_json:
        sys.stdout.write(json.dumps([s.as_dict() for s in results], indent=2) + "\n")
    unusable = [s for s in results if s.accepted == 0]
    if unusable:
        names = ", ".join(s.source for s in unusable)
        raise MeterError(f"no usable readings in {names}")


# --- reconcile --------------------------------------------------------------------------------


def reconcile_cmd(
    from_: str | None = from_option("First local day (default: the 1st of the month of --to)."),
    to: str | None = to_option(),
    period: Period = typer.Option(
        Period.DAY, "--period", help="Rows per hour, day, month or year."
    ),
    by: Period | None = typer.Option(None, "--by", hidden=True, help="Old name of --period."),
    tolerance: float = typer.Option(2.0, "--tolerance", min=0, help="Flag beyond this %."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV of the periods on stdout."),
    as_json: bool = typer.Option(False, "--json", help="JSON of the whole report on stdout."),
    serial: str | None = typer.Option(
        None, "--serial", help="Which zappi (default: the configured one, else all together)."
    ),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    meters: list[str] | None = typer.Option(None, "--meter", help="Only this meter id (repeat)."),
    chart: Path | None = typer.Option(None, "--chart", help="Also draw the comparison as PNG."),
    force: bool = typer.Option(False, "--force", help="Overwrite output files that exist."),
) -> None:
    """Check the zappi's history against the household's meters, from the database only."""
    from ..reconciliation import reconcile, render_chart

    if as_csv and as_json:
        raise typer.BadParameter("choose one of --csv and --json")
    if by is not None:
        state.err_console().print("note: --by is deprecated, use --period")
        period = by
    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    if chart is not None:
        from ..outputs import claim

        claim([chart], force=force)
    cfg = settings()
    zone = timezone_name(tz, cfg)
    with open_store(cfg, read_only=True) as store:
        report = reconcile(
            store,
            first,
            last,
            zone,
            serial=serial or cfg.zappi_serial,
            period=period,
            tolerance_pct=tolerance,
            meter_ids=meters or None,
        )
    if chart is not None:
        render_chart(report, chart, force=force)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    elif as_csv:
        _write_rows_csv(report)
    else:
        console = state.console()
        console.print(_rows_table(report))
        print_reconcile_summary(console, report)
        if chart is not None:
            console.print(f"chart written to {chart}")


def _write_rows_csv(report: ReconcileReport) -> None:
    fields = [
        "period", "pair", "start", "end", "hours", "zappi_kwh", "meter_kwh", "difference_kwh",
        "relative_pct", "flagged", "estimated", "reasons",
    ]  # fmt: skip
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        data = row.as_dict()
        data["reasons"] = ";".join(data["reasons"])
        writer.writerow({k: data[k] for k in fields})
