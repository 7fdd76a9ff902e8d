"""``zapledger ha import``: the stored hourly balance into Home Assistant's Energy dashboard.

A thin shell over :func:`zapledger.integrations.ha_statistics.import_statistics`. The access token
comes from ``--token-file`` or ``$ZAPLEDGER_HA_TOKEN``, never from the command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import (
    from_option,
    open_store,
    optional_day,
    run_async,
    settings,
    state,
    timezone_name,
    to_option,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..integrations.ha_statistics import HaImportReport
    from ..store import Store

ha_app = typer.Typer(
    name="ha",
    help="Home Assistant: long-term statistics for its Energy dashboard.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(ha_app, name="ha")


@ha_app.command("import")
def import_cmd(
    from_: str | None = from_option(
        "Re-import from this local day (default: after the last hour Home Assistant holds)."
    ),
    to: str | None = to_option(),
    tz: str | None = typer.Option(None, "--tz", help="IANA time zone of the days."),
    serial: str | None = typer.Option(None, "--serial", help="Which zappi (default: all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="ZAPLEDGER_HA_URL",
        help="Home Assistant's websocket API, e.g. ws://homeassistant.local:8123/api/websocket.",
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding a long-lived access token (else $ZAPLEDGER_HA_TOKEN).",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Send the final hours of the stored history as Home Assistant long-term statistics."""
    from ..integrations.ha_statistics import import_statistics
    from ..integrations.ha_ws import read_token, websocket_url

    first, last = optional_day(from_, "--from"), optional_day(to, "--to")
    cfg = settings()
    zone = timezone_name(tz, cfg)
    offline = dry_run and url is None
    ws_url = None if offline else websocket_url(url)
    token = None if offline else read_token(token_file)
    with open_store(cfg) as store:
        report = run_async(
            import_statistics(
                store,
                first,
                last,
                zone,
                url=ws_url,
                token=token,
                serial=serial or cfg.zappi_serial,
                dry_run=dry_run,
            )
        )
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        print_report(report)


def print_report(report: HaImportReport) -> None:
    console = state.console()
    verb = "would send" if report.dry_run else "sent"
    for note in report.notes:
        console.print(f"note: {note}", soft_wrap=True)
    if report.up_to_date:
        console.print("Home Assistant is up to date: nothing new to send.")
    else:
        for s in report.statistics:
            if s.hours:
                console.print(
                    f"{s.statistic_id}  {s.hours} h  {s.first_start:%Y-%m-%d %H:%M} .. "
                    f"{s.last_start:%Y-%m-%d %H:%M} UTC  sum {s.first_sum_kwh:.3f} .. "
                    f"{s.last_sum_kwh:.3f} kWh",
                    soft_wrap=True,
                )
        console.print(f"{verb} {report.hours} hour(s) per statistic", soft_wrap=True)
    if report.gap_hours:
        console.print(f"{report.gap_hours} hour(s) without complete data left out (not zeros)")
    if report.not_final_from is not None:
        console.print(
            f"stopped before {report.not_final_from:%Y-%m-%d %H:%M} UTC: not final yet",
            soft_wrap=True,
        )


def collector_hook(
    url: str | None, token_file: Path | None, tz: str, serials: list[str]
) -> Callable[[Store], Awaitable[object]] | None:
    """``collect --ha-url``: the collector's ``after_hour`` hook, or None without a URL."""
    if url is None:
        return None
    from ..integrations import ha_statistics
    from ..integrations.ha_ws import read_token, websocket_url

    if len(serials) > 1:
        raise typer.BadParameter("with --ha-url, one --serial or none (all)", param_hint="--serial")
    serial = serials[0] if serials else None
    return ha_statistics.collector_hook(
        tz, url=websocket_url(url), token=read_token(token_file), serial=serial
    )
