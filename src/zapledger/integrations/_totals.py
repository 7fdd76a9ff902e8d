"""Lifetime energy per zappi from the stored hour history: the counters both bridges show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..models import Energy, Resolution
from ..store import Store

__all__ = ["stored_totals"]

#: Wide enough to hold every stored hour in one bucket (the store sums in the database).
_ALL_TIME_S = 1 << 40
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stored_totals(store: Store, serials: Sequence[str], now: datetime) -> dict[str, Energy]:
    """Each zappi's stored hour history summed since its first record (zero without history)."""
    end = now + timedelta(hours=1)
    return {
        sn: Energy.total(
            b.energy for b in store.iter_energy(sn, Resolution.HOUR, _EPOCH, end, _ALL_TIME_S)
        )
        for sn in serials
    }
