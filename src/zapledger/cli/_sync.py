"""Commands of the history: ``sync`` (backfill), ``gaps`` (data quality), ``collect`` (daemon),
``health`` (is the zappi still reporting; an exit code for monitors).

Thin shells over :mod:`zapledger.backfill`, :mod:`zapledger.quality` and
:mod:`zapledger.collect`: the progress bar, the tables and the exit codes live here, the work
does not.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._common import (
    db_url,
    from_option,
    make_client,
    optional_day,
    run_async,
    settings,
    state,
    timezone_name,
    to_option,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..backfill import SyncEvent, SyncReport, SyncSummary
    from ..client import Client
    from ..models import Resolution
    from ..quality import DayQuality
    from ..store import Store


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_cmd)
    app.command("gaps")(gaps_cmd)
    app.command("collect")(collect_cmd)
    app.command("health")(health_cmd)


_MAX_RATE_HELP = (
    "Hard cap on requests per second (default: none; the pacing learns the cloud's limit)."
)
_MAX_CONCURRENCY_HELP = "Hard cap on requests at once (default 12; the pacing starts at 2)."


def _max_rate_option() -> Any:
    return typer.Option(None, "--max-rate", metavar="PER_S", help=_MAX_RATE_HELP)


def _max_concurrency_option() -> Any:
    return typer.Option(None, "--max-concurrency", min=1, max=64, help=_MAX_CONCURRENCY_HELP)


def _deprecated_rate_option() -> Any:
    return typer.Option(None, "--rate", hidden=True)


def _deprecated_concurrency_option() -> Any:
    return typer.Option(None, "--concurrency", min=1, max=64, hidden=True)


#: The longest lag ``--stale-after`` accepts: a week (the zappi's clock is then surely stuck).
_MAX_STALE_AFTER_S = 7 * 86400.0


def _stale_after_option() -> Any:
    return typer.Option(
        900.0, "--stale-after", help="Seconds the zappi's own clock may lag before it is stale."
    )


def _stale_after(seconds: float) -> timedelta:
    if not 0 < seconds <= _MAX_STALE_AFTER_S:  # also false for nan
        raise typer.BadParameter(
            f"must be above 0 and at most {_MAX_STALE_AFTER_S:.0f} seconds",
            param_hint="--stale-after",
        )
    return timedelta(seconds=seconds)


def pacing_caps(
    max_rate: float | None,
    max_concurrency: int | None,
    rate: float | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """The user's caps as Client options (the policy is the library's); notes old flag names."""
    if rate is not None:
        state.err_console().print("note: --rate is deprecated, use --max-rate", highlight=False)
        max_rate = max_rate if max_rate is not None else rate
    if concurrency is not None:
        state.err_console().print(
            "note: --concurrency is deprecated, use --max-concurrency", highlight=False
        )
        max_concurrency = max_concurrency if max_concurrency is not None else concurrency
    if max_rate is not None and not 0 < max_rate <= 1000:  # also false for nan
        raise typer.BadParameter(
            "must be a number above 0 and at most 1000", param_hint="--max-rate"
        )
    caps: dict[str, Any] = {}
    if max_rate is not None:
        caps["rate_limit_per_s"] = max_rate
    if max_concurrency is not None:
        caps["max_concurrency"] = max_concurrency
    return caps


def _resolutions(minute: bool, hourly: bool) -> list[Resolution]:
    from ..models import Resolution

    if minute == hourly:
        return [Resolution.MINUTE, Resolution.HOUR]
    return [Resolution.MINUTE] if minute else [Resolution.HOUR]


# --- sync ------------------------------------------------------------------------------------


def sync_cmd(
    from_: str | None = from_option("First local day (default: the first day synced)."),
    to: str | None = to_option(),
    minute: bool = typer.Option(False, "--minute", help="Only per-minute history."),
    hourly: bool = typer.Option(False, "--hourly", help="Only per-hour history."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan, fetch nothing."),
    serial: str | None = typer.Option(None, "--serial", help="Which zappi (default: all)."),
    max_rate: float | None = _max_rate_option(),
    max_concurrency: int | None = _max_concurrency_option(),
    rate: float | None = _deprecated_rate_option(),
    concurrency: int | None = _deprecated_concurrency_option(),
    gap_retries: int = typer.Option(
        3, "--gap-retries", min=0, help="Times a recent day with gaps is fetched again."
    ),
) -> None:
    """Fetch the days the database lacks (missing, not final, failed) and store them."""
    from ..store import open_store

    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    if first is not None and last is not None:
        from ..localtime import check_range

        check_range(first, last)  # before the database is opened, like the credentials
    cfg = settings()
    cfg.require_credentials()  # before the database is opened: no credentials, no new file
    zone = timezone_name(tz, cfg)
    caps = pacing_caps(max_rate, max_concurrency, rate, concurrency)
    console = state.console()

    async def go() -> SyncReport:
        with open_store(db_url(cfg)) as store:
            async with make_client(cfg, **caps) as client:
                return await sync_with_progress(
                    console,
                    store,
                    first,
                    last,
                    zone,
                    client=client,
                    serial=serial or cfg.zappi_serial,
                    resolutions=_resolutions(minute, hourly),
                    dry_run=dry_run,
                    gap_retries=gap_retries,
                )

    report = run_async(go())
    for summary in report.summaries:
        print_sync_summary(console, summary)
    if not report.ok:
        raise typer.Exit(1)


async def sync_with_progress(
    console: Console,
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    client: Client,
    serial: str | None = None,
    dry_run: bool = False,
    **options: Any,
) -> SyncReport:
    """Run :func:`zapledger.sync` with a progress bar on ``console``."""
    from ..backfill import sync

    with _SyncProgress(console, disable=dry_run) as progress:
        return await sync(
            store,
            first_day,
            last_day,
            tz,
            client=client,
            serial=serial,
            dry_run=dry_run,
            on_event=progress.on_event,
            **options,
        )


class _SyncProgress:
    """A rich progress bar fed by sync events: days, records, requests, pace, time left."""

    def __init__(self, console: Console, *, disable: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TextColumn("{task.fields[records]:>9,} records"),
            TextColumn("{task.fields[requests]:>5,} requests"),
            TextColumn("{task.fields[rate]:>5.1f}/s"),
            TextColumn("{task.fields[in_flight]} in flight"),
            TextColumn("{task.fields[refused]} refused"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=disable or not console.is_terminal,
        )
        self.tasks: dict[str, Any] = {}
        self.records: dict[str, int] = {}

    def __enter__(self) -> _SyncProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_event(self, event: SyncEvent) -> None:
        from ..backfill import DayFailed, DayWritten, SyncPlanned

        if isinstance(event, SyncPlanned):
            self.tasks[event.serial] = self.progress.add_task(
                f"zappi {event.serial}",
                total=len(event.days),
                records=0,
                requests=0,
                rate=0.0,
                in_flight=0,
                refused=0,
            )
            self.records[event.serial] = 0
        elif isinstance(event, DayWritten):
            self.records[event.serial] += event.records
            self.progress.update(
                self.tasks[event.serial],
                advance=1,
                records=self.records[event.serial],
                requests=event.requests,
                rate=event.rate_per_s,
                in_flight=event.in_flight,
                refused=event.refused,
            )
        elif isinstance(event, DayFailed):
            self.progress.update(
                self.tasks[event.serial],
                advance=1,
                requests=event.requests,
                rate=event.rate_per_s,
                in_flight=event.in_flight,
                refused=event.refused,
            )
            self.console.print(
                f"[red]failed[/] {event.resolution.value} {event.day}: {event.reason}",
                highlight=False,
            )


_PLAN_LINES = 20


def print_sync_summary(console: Console, s: SyncSummary) -> None:
    """What a sync run did (or, dry, would do), and the days that failed."""
    if s.dry_run:
        reasons = Counter(p.reason.value for p in s.planned)
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "nothing to do"
        console.print(
            f"zappi {s.serial}, {s.since} to {s.until}: would fetch {len(s.planned)} day(s)"
            f" ({detail})"
        )
        shown = sorted(s.planned, key=lambda p: (p.day, p.resolution.value))
        for p in shown[:_PLAN_LINES]:
            console.print(f"  {p.day} {p.resolution.value:6} {p.reason.value}")
        if len(shown) > _PLAN_LINES:
            console.print(f"  … and {len(shown) - _PLAN_LINES} more")
        return
    if not s.planned:
        console.print(f"zappi {s.serial}: up to date ({s.since} to {s.until})")
        return
    console.print(
        f"zappi {s.serial}: {s.days_written} day(s) stored, {s.records_written:,} records "
        f"({s.rows_changed:,} rows new or changed), {s.days_with_gaps} with gaps, "
        f"{s.days_not_final} not final yet; {s.requests:,} requests in {s.elapsed_s:.1f} s"
    )
    if s.throttled:
        console.print(
            f"  the cloud throttled {s.throttled} time(s): {s.refused} request(s) refused, "
            f"each waited out and sent again; ended at {s.rate_per_s:.1f} requests/s"
        )
    else:
        console.print(f"  the cloud did not throttle; ended at {s.rate_per_s:.1f} requests/s")
    if s.failures:
        console.print(f"[bold red]{len(s.failures)} day(s) failed[/] (tried again next run):")
        for f in s.failures:
            console.print(f"  {f.day} {f.resolution.value:6} {f.reason}", highlight=False)


# --- gaps ------------------------------------------------------------------------------------


def gaps_cmd(
    from_: str | None = from_option("First local day (default: the first day synced)."),
    to: str | None = to_option("Last local day, inclusive (default: the last day synced)."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    serial: str | None = typer.Option(None, "--serial", help="Which zappi (default: all stored)."),
    show_all: bool = typer.Option(False, "--all", help="List every day, not only the bad ones."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
    tolerance_j: int = typer.Option(
        0, "--tolerance-j", min=0, help="Hour-vs-minutes differences up to this are fine."
    ),
) -> None:
    """The data-quality table: missing minutes, duplicates, suspect v1/frq, hours vs minutes."""
    from ..quality import data_quality
    from ._common import open_store

    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    cfg = settings()
    zone = timezone_name(tz, cfg)
    with open_store(cfg, read_only=True) as store:
        report = data_quality(store, first, last, zone, serial=serial, tolerance_j=tolerance_j)
    if as_json:
        data = report.as_dict(problems_only=not show_all)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console = state.console()
    if not report.days:
        console.print("no history stored yet: run 'zapledger sync --since DATE' first")
        return
    days = report.days if show_all else report.problem_days
    if days:
        console.print(_quality_table(days, zone))
    for d in report.days:
        for resolution, sync_state in (("minute", d.minute), ("hour", d.hour)):
            if sync_state is not None and sync_state.error:
                console.print(f"[red]failed[/] {d.day} {resolution}: {sync_state.error}")
    t = report.totals
    console.print(
        f"{t['days']} day(s), {t['problem_days']} with problems: "
        f"{t['missing_minutes']:,} minutes and {t['missing_hours']} hours missing, "
        f"{t['duplicates_dropped']} duplicates dropped, {t['suspect']} suspect v1/frq, "
        f"{t['hours_disagreeing']} of {t['hours_compared']:,} hours disagree with their minutes, "
        f"{t['failed_days']} failed"
    )


def _count(done: int | None, expected: int | None) -> str:
    if done is None:
        return "—"
    return f"{done}/{expected}"


def _quality_table(days: tuple[DayQuality, ...], zone: str) -> Any:
    from rich import box
    from rich.table import Table

    several = len({d.serial for d in days}) > 1
    table = Table(
        title=f"Data quality, local days in {zone}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption="Miss: minutes missing. v1/frq: records with implausible voltage/frequency. "
        "H≠M: hours whose total differs from the sum of their minutes / hours compared.",
    )
    table.add_column("Day", no_wrap=True)
    if several:
        table.add_column("Zappi", no_wrap=True)
    for name in ("Minutes", "Miss", "Dups", "v1/frq", "Hours", "H≠M"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("State", no_wrap=True)
    for d in days:
        m, h = d.minute, d.hour
        if d.errors:
            status = "[red]failed[/]"
        elif not d.final:
            status = "[yellow]not final[/]"
        else:
            status = "final"
        minutes = _count(
            None if m is None or m.fetched_at is None else m.records,
            None if m is None else m.expected,
        )
        hours = _count(
            None if h is None or h.fetched_at is None else h.records,
            None if h is None else h.expected,
        )
        row = [
            str(d.day),
            *([d.serial] if several else []),
            minutes,
            "—" if d.missing_minutes is None else str(d.missing_minutes),
            str(d.duplicates_dropped),
            f"{d.voltage_suspect}/{d.frequency_suspect}",
            hours,
            f"{len(d.mismatches)}/{d.hours_compared}",
            status,
        ]
        table.add_row(*row)
    return table


# --- collect ---------------------------------------------------------------------------------


def collect_cmd(
    status_interval: float = typer.Option(
        60.0, "--status-interval", help="Seconds between status snapshots (warns under 30)."
    ),
    nightly_at: str = typer.Option(
        "07:00", "--nightly-at", metavar="HH:MM", help="Local time of the nightly minute sync."
    ),
    hour_delay: float = typer.Option(
        120.0, "--hour-delay", help="Seconds after each full hour before its history is fetched."
    ),
    from_: str | None = from_option("Where history starts on an empty database."),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    serial: list[str] = typer.Option([], "--serial", help="Which zappi (default: all)."),
    stale_after: float = _stale_after_option(),
    max_rate: float | None = _max_rate_option(),
    max_concurrency: int | None = _max_concurrency_option(),
    rate: float | None = _deprecated_rate_option(),
    hour_period: float = typer.Option(3600.0, "--hour-period", hidden=True),
    minute_period: float | None = typer.Option(None, "--minute-period", hidden=True),
    ha_url: str | None = typer.Option(
        None, "--ha-url", help="Keep Home Assistant's statistics current (its websocket URL)."
    ),
    ha_token_file: Path | None = typer.Option(
        None, "--ha-token-file", metavar="FILE", help="Its access token (else $ZAPLEDGER_HA_TOKEN)."
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535, help="Serve Prometheus metrics on this port."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address of the metrics (warns beyond loopback)."
    ),
) -> None:
    """Run as a daemon: status snapshots, hourly history, nightly minutes; stop with SIGTERM."""
    from ..collect import CollectorConfig
    from ._ha import collector_hook

    if status_interval <= 0:
        raise typer.BadParameter("must be positive", param_hint="--status-interval")
    try:
        at = datetime.strptime(nightly_at, "%H:%M").time()
    except ValueError:
        raise typer.BadParameter("takes HH:MM", param_hint="--nightly-at") from None
    cfg = settings()
    config = CollectorConfig(
        tz=timezone_name(tz, cfg),
        serials=tuple(serial) or ((cfg.zappi_serial,) if cfg.zappi_serial else ()),
        status_interval_s=status_interval,
        hour_period_s=hour_period,
        hour_delay_s=hour_delay,
        nightly_at=at,
        minute_period_s=minute_period,
        since=optional_day(from_, "--from"),
        stale_after=_stale_after(stale_after),
        after_hour=collector_hook(ha_url, ha_token_file, timezone_name(tz, cfg), serial),
    )
    client = make_client(cfg, **pacing_caps(max_rate, max_concurrency, rate))
    url = db_url(cfg)
    _log_to_stderr()
    metrics = None if metrics_port is None else (metrics_host, metrics_port)
    run_async(_collect(client, url, config, metrics))


def _log_to_stderr() -> None:
    """One line per event on stderr (journald adds its own time stamps under systemd)."""
    import logging

    root = logging.getLogger("zapledger")
    if not state.verbose:
        from ..redact import RedactingFilter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _collect(
    client: Client, url: str, config: Any, metrics: tuple[str, int] | None = None
) -> None:
    import asyncio
    import signal

    from ..collect import run_collector
    from ..store import open_store

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        with open_store(url) as store:
            async with client:
                if metrics is None:
                    await run_collector(client, store, config, stop)
                else:
                    from ..integrations.metrics import collect_with_metrics

                    host, port = metrics
                    await collect_with_metrics(client, store, config, stop, host=host, port=port)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


# --- health ----------------------------------------------------------------------------------

#: ``zapledger health`` exit code when a zappi stopped reporting (the cloud answers). A cloud that
#: cannot be reached gives the usual network (5) or authentication (4) exit code.
EXIT_STALE = 1


def health_cmd(
    stale_after: float = _stale_after_option(),
    serial: list[str] = typer.Option([], "--serial", help="Which zappi (default: all)."),
) -> None:
    """Check that the zappi still reports to the cloud: exit 0 ok, 1 stale, 4/5 unreachable."""
    from ..health import HealthState, check_health

    lag = _stale_after(stale_after)
    cfg = settings()

    async def check() -> Any:
        async with make_client(cfg) as client:
            return await check_health(client, stale_after=lag, serials=tuple(serial))

    report = run_async(check())
    console = state.console()
    for zappi in report.zappis:
        console.print(zappi.describe(), highlight=False)
    if report.state is HealthState.STALE:
        raise typer.Exit(EXIT_STALE)
