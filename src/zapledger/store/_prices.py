"""Stored prices of dynamic tariffs, keyed (tariff, UTC start, duration): a mixin of SqlStore.

Fetching or importing the same prices twice writes nothing the second time (the shared upsert only
touches a row whose values changed), so reports never need the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..models import PricePoint
from . import _sql
from ._convert import Row, epoch, epoch_ceil

if TYPE_CHECKING:
    from ._schema import Dialect

__all__ = ["PriceQueries"]

_KEY = ("tariff", "start_ts", "duration_s")
_VALUES = ("micro_per_kwh", "currency", "source")


class PriceQueries:
    """``upsert_prices``, ``prices`` and ``price_series`` over the SqlStore primitives."""

    if TYPE_CHECKING:
        dialect: ClassVar[Dialect]

        def _guard(self, action: str) -> AbstractContextManager[None]: ...
        def _transaction(self) -> AbstractContextManager[None]: ...
        def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...
        def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def upsert_prices(self, prices: Iterable[PricePoint]) -> int:
        """Rows inserted or changed (0 when the same prices are stored again)."""
        rows = [
            (p.tariff, epoch(p.start), p.duration_s, p.micro_per_kwh, p.currency, p.source)
            for p in prices
        ]
        if not rows:
            return 0
        sql = _sql.upsert(self.dialect, "prices", _KEY, _VALUES)
        with self._guard("writing prices"), self._transaction():
            return self._executemany(sql, rows)

    def price_rows(self, tariff: str, start: datetime, end: datetime) -> list[Row]:
        """``(start epoch s, duration_s, micro_per_kwh, currency, source)`` of the prices of one
        series overlapping ``[start, end)``, by start: the price book reads years of them."""
        with self._guard("reading prices"):
            return self._fetchall(
                "SELECT start_ts, duration_s, micro_per_kwh, currency, source FROM prices "
                "WHERE tariff = ? AND start_ts < ? AND start_ts + duration_s > ? "
                "ORDER BY start_ts, duration_s",
                (tariff, epoch_ceil(end), epoch_ceil(start)),
            )

    def prices(self, tariff: str, start: datetime, end: datetime) -> list[PricePoint]:
        """Prices of one series whose interval overlaps ``[start, end)``, by start."""
        return [
            PricePoint(tariff, datetime.fromtimestamp(r[0], UTC), r[1], r[2], r[3], r[4])
            for r in self.price_rows(tariff, start, end)
        ]

    def price_series(self) -> list[tuple[str, int]]:
        """Every stored series with its number of prices."""
        with self._guard("reading prices"):
            rows = self._fetchall("SELECT tariff, COUNT(*) FROM prices GROUP BY tariff ORDER BY 1")
        return [(r[0], int(r[1])) for r in rows]
