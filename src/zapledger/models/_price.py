"""A stored price: what one kWh cost over one interval of a price series (dynamic tariffs)."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

__all__ = ["PricePoint"]


class PricePoint(msgspec.Struct, frozen=True):
    """The price of ``[start, start + duration_s)`` in one series, keyed (tariff, start, duration).

    ``micro_per_kwh`` is exact: millionths of ``currency`` per kWh (never a float).
    """

    tariff: str
    start: datetime
    duration_s: int
    micro_per_kwh: int
    currency: str
    source: str

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)
