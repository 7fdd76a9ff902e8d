"""Prices from a CSV file (format in docs/tariffs.md): one interval per row, exact decimals."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..exceptions import ConfigError, PriceError
from ..models import PricePoint
from ..tariffs import to_micro

__all__ = ["CSV_COLUMNS", "DURATIONS_MIN", "read_price_csv"]

#: Required columns; ``currency`` is optional (else the ``currency`` argument).
CSV_COLUMNS = ("start", "minutes", "price_per_kwh")
DURATIONS_MIN = (15, 30, 60)


def _start(text: str, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PriceError(f"{where}: start {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise PriceError(f"{where}: start {text!r} has no UTC offset (write Z or +01:00)")
    at = at.astimezone(UTC)
    if at.second or at.microsecond:
        raise PriceError(f"{where}: start {text!r} is not on a whole minute")
    return at


def read_price_csv(
    path: Path, tariff: str, *, currency: str | None = None, source: str = "csv"
) -> Iterator[PricePoint]:
    """The rows of ``path`` as prices of the series ``tariff``; a bad row is a PriceError."""
    try:
        fh = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise PriceError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise PriceError(f"{path}: missing column(s) {', '.join(missing)}")
        for n, row in enumerate(reader, start=2):
            where = f"{path} line {n}"
            minutes = (row["minutes"] or "").strip()
            if not minutes.isdigit() or int(minutes) not in DURATIONS_MIN:
                raise PriceError(f"{where}: minutes should be 15, 30 or 60, got {minutes!r}")
            start = _start(row["start"] or "", where)
            if (start.minute % int(minutes)) != 0:
                raise PriceError(f"{where}: a {minutes}-minute price must start on its grid")
            try:
                micro = to_micro(row["price_per_kwh"] or "", "price_per_kwh")
            except ConfigError as exc:
                raise PriceError(f"{where}: {exc}") from None
            code = (row.get("currency") or currency or "").strip().upper()
            if len(code) != 3 or not code.isalpha():
                raise PriceError(f"{where}: no currency (add a currency column or --currency)")
            yield PricePoint(tariff, start, int(minutes) * 60, micro, code, source)
