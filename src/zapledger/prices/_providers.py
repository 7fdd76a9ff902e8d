"""Day-ahead prices through the providers' own libraries (extras): energyzero and Octopus Agile.

Each provider turns its library's answer into :class:`PricePoint` values; :func:`fetch_prices`
stores them, so reports never need the network. The libraries are imported on first use only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from ..exceptions import ConfigError, PriceError, PriceFetchError
from ..models import PricePoint
from ..tariffs import MICRO

__all__ = [
    "OCTOPUS_DEFAULT_PRODUCT",
    "Provider",
    "energyzero_prices",
    "octopus_prices",
    "to_points",
]

#: Agile Octopus (half-hourly import prices); the tariff code adds the region letter.
OCTOPUS_DEFAULT_PRODUCT = "AGILE-24-10-01"


class Provider(enum.StrEnum):
    ENERGYZERO = "energyzero"
    OCTOPUS = "octopus"


class _Rate(Protocol):
    valid_from: datetime
    valid_to: datetime | None
    value_inc_vat: float


def _micro(value: float | Decimal, scale: Decimal) -> int:
    """A provider's float price as exact micro-units (rounded to 1e-6 of the currency)."""
    return int((Decimal(str(value)) * scale * MICRO).to_integral_value())


def to_points(
    intervals: Iterable[tuple[datetime, datetime, float | Decimal]],
    tariff: str,
    currency: str,
    source: str,
    *,
    scale: Decimal = Decimal(1),
) -> list[PricePoint]:
    """(start, end, price per kWh) intervals as stored prices; ``scale`` converts pence etc."""
    points = []
    for start, end, price in intervals:
        if start.tzinfo is None or end <= start:
            raise PriceError(f"{source}: bad interval {start} to {end}")
        seconds = int((end - start).total_seconds())
        points.append(
            PricePoint(
                tariff, start.astimezone(UTC), seconds, _micro(price, scale), currency, source
            )
        )
    return sorted(points, key=lambda p: p.start)


async def energyzero_prices(
    first_day: date, last_day: date, tariff: str, *, session: Any = None
) -> list[PricePoint]:
    """Dutch day-ahead all-in prices (EUR/kWh incl. VAT and taxes) of the days, hour by hour."""
    try:
        from energyzero import EnergyZero, EnergyZeroError
    except ImportError:
        raise ConfigError("energyzero prices need: pip install 'zapledger[energyzero]'") from None
    try:
        async with EnergyZero(session=session) as client:
            answer = await client.get_electricity_prices(start_date=first_day, end_date=last_day)
    except EnergyZeroError as exc:
        raise PriceFetchError(f"energyzero: {exc}") from None
    items = answer.prices.items()
    return to_points(
        ((r.start_including, r.end_excluding, p) for r, p in items), tariff, "EUR", "energyzero"
    )


async def octopus_prices(
    first_day: date,
    last_day: date,
    tariff: str,
    *,
    region: str = "C",
    product: str = OCTOPUS_DEFAULT_PRODUCT,
    session: Any = None,
    client: Any = None,
) -> list[PricePoint]:
    """Agile Octopus unit rates (p/kWh incl. VAT, stored as GBP) of the UTC days, half-hourly."""
    if client is None:
        try:
            from aiooctopusenergy import OctopusEnergyClient
        except ImportError:
            raise ConfigError(
                "Octopus prices need Python 3.12+ and: pip install 'zapledger[octopus]'"
            ) from None
        client = OctopusEnergyClient(api_key="", session=session)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)
    try:
        async with client:
            rates: list[_Rate] = await client.get_electricity_rates(
                product_code=product,
                tariff_code=f"E-1R-{product}-{region.upper()}",
                period_from=start,
                period_to=end,
            )
    except Exception as exc:  # the library's own error classes all derive from Exception
        if type(exc).__module__.startswith("aiooctopusenergy"):
            raise PriceFetchError(f"octopus: {exc}") from None
        raise
    intervals = [
        (r.valid_from, r.valid_to or r.valid_from + timedelta(minutes=30), r.value_inc_vat)
        for r in rates
    ]
    return to_points(intervals, tariff, "GBP", "octopus", scale=Decimal("0.01"))
