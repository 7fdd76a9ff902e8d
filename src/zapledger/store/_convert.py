"""Values to rows and back: epoch seconds, local days, history tuples (the ingest hot path)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as dtime
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgspec.structs import astuple

from ..exceptions import StoreError
from ..models import HistoryRecord
from ._schema import HISTORY_COLUMNS

__all__ = [
    "Row",
    "day_start_utc",
    "enum_name",
    "epoch",
    "epoch_ceil",
    "history_rows",
    "utc",
]

Row = tuple[Any, ...]

_RECORD_VALUES = attrgetter("timestamp", *HISTORY_COLUMNS)


def epoch(ts: datetime) -> int:
    """Integer epoch seconds of an aware datetime (naive ones are refused: they are ambiguous)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: zapledger needs aware (UTC) datetimes")
    return int(ts.timestamp())


def epoch_ceil(ts: datetime) -> int:
    """Bound for ``start <= ts < end`` comparisons on whole seconds."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: zapledger needs aware (UTC) datetimes")
    return math.ceil(ts.timestamp())


def utc(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def day_start_utc(day: date, tz: str) -> datetime:
    """UTC instant of local midnight (a midnight skipped by DST maps to the instant of the jump)."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(f"unknown time zone {tz!r}") from None
    return datetime.combine(day, dtime(0), tzinfo=zone).astimezone(UTC)


def enum_name(value: Any) -> str | None:
    return None if value is None else str(value.name).lower()


_FIELDS = HistoryRecord.__struct_fields__
#: Where the stored values sit in ``msgspec.structs.astuple(record)``, if the struct's layout is
#: (timestamp, duration_s, *HISTORY_COLUMNS, ...): slicing a C-built tuple is the fastest way.
_VALUES_SLICE = (
    slice(2, 2 + len(HISTORY_COLUMNS))
    if _FIELDS[:2] == ("timestamp", "duration_s")
    and _FIELDS[2 : 2 + len(HISTORY_COLUMNS)] == HISTORY_COLUMNS
    else None
)


def history_rows(serial: str, records: Sequence[HistoryRecord]) -> Iterator[Row]:
    """Row tuples straight from the records' attributes (the ingest hot path).

    A generator: the driver consumes each tuple as it is made, so a big batch never holds
    (nor makes the garbage collector walk) a second copy of itself.
    """
    if records and records[0].timestamp.tzinfo is None:
        raise ValueError("history records need aware (UTC) timestamps")
    values = _VALUES_SLICE
    if values is None:  # pragma: no cover - only if HistoryRecord's field order changes
        return ((serial, int(v[0].timestamp()), *v[1:]) for v in map(_RECORD_VALUES, records))
    return ((serial, int(t[0].timestamp())) + t[values] for t in map(astuple, records))
