"""Prices of dynamic tariffs: imported from CSV or fetched from a provider into the store.

Reports read the stored prices only (:func:`price_book`); the network is used by
:func:`fetch_prices` alone, through the provider's own library (extras ``energyzero``,
``octopus``).

>>> import_price_csv(store, Path("prices.csv"), "spot")
>>> asyncio.run(fetch_prices(store, "energyzero", date(2024, 3, 1), date(2024, 3, 2)))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..exceptions import UsageError
from ..models import PricePoint
from ..store import Store
from ._book import PriceBook, price_book
from ._csv import CSV_COLUMNS, read_price_csv
from ._providers import Provider, energyzero_prices, octopus_prices

__all__ = [
    "CSV_COLUMNS",
    "PriceBook",
    "PriceImport",
    "Provider",
    "fetch_prices",
    "import_price_csv",
    "price_book",
]


@dataclass(frozen=True, slots=True)
class PriceImport:
    """What an import or fetch brought: prices read, rows written (0 on a rerun), the span."""

    tariff: str
    read: int
    written: int
    first: PricePoint | None
    last: PricePoint | None


def _store(store: Store, tariff: str, points: list[PricePoint]) -> PriceImport:
    written = store.upsert_prices(points)
    return PriceImport(
        tariff, len(points), written, points[0] if points else None, points[-1] if points else None
    )


def import_price_csv(
    store: Store, path: Path, tariff: str, *, currency: str | None = None
) -> PriceImport:
    """Store the prices of a CSV file (docs/tariffs.md) as the series ``tariff``."""
    points = sorted(read_price_csv(path, tariff, currency=currency), key=lambda p: p.start)
    return _store(store, tariff, points)


async def fetch_prices(
    store: Store,
    provider: Provider | str,
    first_day: date,
    last_day: date,
    *,
    tariff: str | None = None,
    region: str = "C",
    session: Any = None,
    client: Any = None,
) -> PriceImport:
    """Fetch a provider's prices of the days and store them as the series ``tariff``.

    ``tariff`` defaults to the provider's name; ``session`` (an aiohttp session) or ``client``
    (an Octopus client) are handed to the library, for tests and for callers that own one.
    """
    if last_day < first_day:
        raise UsageError(f"--to ({last_day}) is before --from ({first_day})")
    kind = Provider(provider)
    name = tariff or kind.value
    if kind is Provider.ENERGYZERO:
        points = await energyzero_prices(first_day, last_day, name, session=session)
    else:
        points = await octopus_prices(
            first_day, last_day, name, region=region, session=session, client=client
        )
    return _store(store, name, points)
