"""Commands of dynamic prices: ``prices fetch`` (a provider, into the store) and ``prices import``.

Reports never fetch: they read the prices these commands stored. Providers and the CSV format are
described in docs/tariffs.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import from_option, open_store, parse_day, run_async, settings, state, to_option

if TYPE_CHECKING:
    from ..prices import PriceImport

prices_app = typer.Typer(help="Prices of dynamic tariffs: fetch or import them into the database.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(prices_app, name="prices")


def _report(result: PriceImport) -> None:
    span = ""
    if result.first is not None and result.last is not None:
        span = f", {result.first.start.isoformat()} to {result.last.end.isoformat()} (UTC)"
    state.console().print(
        f"{result.read} price(s) of {result.tariff!r}{span}; {result.written} row(s) written",
        soft_wrap=True,
    )


@prices_app.command("fetch")
def fetch_cmd(
    provider: str = typer.Option(..., "--provider", help="energyzero (NL) or octopus (UK Agile)."),
    from_: str | None = from_option("First day (YYYY-MM-DD)."),
    to: str | None = to_option("Last day, inclusive (YYYY-MM-DD)."),
    tariff: str | None = typer.Option(
        None, "--tariff", help="Name of the stored price series (default: the provider's name)."
    ),
    region: str = typer.Option("C", "--region", help="Octopus region letter (A-P)."),
) -> None:
    """Fetch day-ahead prices from a provider and store them (idempotent)."""
    from ..prices import Provider, fetch_prices

    if provider not in {p.value for p in Provider}:
        raise typer.BadParameter("choose energyzero or octopus", param_hint="--provider")
    if from_ is None or to is None:
        raise typer.BadParameter("give --from and --to", param_hint="--from/--to")
    first, last = parse_day(from_, "--from"), parse_day(to, "--to")
    with open_store(settings()) as store:
        result = run_async(fetch_prices(store, provider, first, last, tariff=tariff, region=region))
    _report(result)


@prices_app.command("import")
def import_cmd(
    path: Path = typer.Argument(
        ..., metavar="FILE.csv", help="Columns: start,minutes,price_per_kwh."
    ),
    tariff: str = typer.Option(..., "--tariff", help="Name of the stored price series."),
    currency: str | None = typer.Option(None, "--currency", help="When the file has no column."),
) -> None:
    """Import prices from a CSV file (format: docs/tariffs.md); importing twice changes nothing."""
    from ..prices import import_price_csv

    with open_store(settings()) as store:
        result = import_price_csv(store, path, tariff, currency=currency)
    _report(result)
