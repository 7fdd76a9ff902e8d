"""Exports of stored energy as CSV, JSON Lines or Parquet, one stable set of columns.

The columns are documented in ``docs/export-format.md``; a change to them is a new column, never
a renamed or removed one. Rows are streamed: a minute export of years never sits in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ..localtime import local_day_window, to_local
from ..models import (
    Energy,
    ExportFormat,
    ExportResolution,
    Period,
    Resolution,
    joules_to_kwh,
)
from ..ranges import resolve_range
from ..store import Store
from ._balance import aggregate
from ._series import SlotStatus, hourly_series

if TYPE_CHECKING:
    from ..tariffs import Tariffs
    from ._cost import Cost, HourCosts

__all__ = [
    "COST_COLUMNS",
    "ENERGY_COLUMNS",
    "EXPORT_COLUMNS",
    "export_rows",
    "write_export",
]


#: Energy columns, each exported in joules (``_j``, integer) and kWh (``_kwh``, float).
ENERGY_COLUMNS = (
    "import",
    "export",
    "generation",
    "generation_negative",
    "diverted",
    "boosted",
    "ev",
    "house",
)
#: Every column, in file order. Stable: new columns are only ever appended.
EXPORT_COLUMNS: tuple[str, ...] = (
    "start_utc",
    "end_utc",
    "start_local",
    "end_local",
    "tz",
    "resolution",
    "serial",
    "source",
    "records",
    "complete",
    *(f"{c}_j" for c in ENERGY_COLUMNS),
    *(f"{c}_kwh" for c in ENERGY_COLUMNS),
)
#: Money columns (appended): exact decimals as text, empty when unknown or without tariffs.
COST_COLUMNS = (
    "import_cost",
    "export_revenue",
    "standing_charge",
    "net_cost",
    "ev_grid_cost",
    "ev_solar_value",
    "savings",
)
EXPORT_COLUMNS += ("currency", *COST_COLUMNS, "cost_complete")
BATCH_ROWS = 50_000
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_CHUNK = timedelta(days=7)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _row(
    start: datetime,
    end: datetime,
    tz: str,
    resolution: ExportResolution,
    serial: str | None,
    source: str,
    records: int,
    complete: bool,
    energy: Energy,
    cost: Cost | None = None,
) -> dict[str, Any]:
    joules = (
        energy.import_j,
        energy.export_j,
        energy.generation_j,
        energy.generation_negative_j,
        energy.diverted_j,
        energy.boosted_j,
        energy.ev_j,
        energy.house_j,
    )
    row: dict[str, Any] = {
        "start_utc": start,
        "end_utc": end,
        "start_local": to_local(start, tz).isoformat(),
        "end_local": to_local(end, tz).isoformat(),
        "tz": tz,
        "resolution": resolution.value,
        "serial": serial or "site",
        "source": source,
        "records": records,
        "complete": complete,
    }
    for name, value in zip(ENERGY_COLUMNS, joules, strict=True):
        row[f"{name}_j"] = value
    for name, value in zip(ENERGY_COLUMNS, joules, strict=True):
        row[f"{name}_kwh"] = joules_to_kwh(value)
    row["currency"] = cost.currency if cost is not None else None
    amounts = cost.amounts() if cost is not None else {}
    for name in COST_COLUMNS:
        row[name] = amounts[name].json() if name in amounts else None
    row["cost_complete"] = cost.unpriced_hours == 0 if cost is not None else None
    return row


def export_rows(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    resolution: ExportResolution | str = ExportResolution.HOUR,
    serial: str | None = None,
    now: datetime | None = None,
    tariffs: Tariffs | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of the local days ``first_day``..``last_day``; timestamps as aware UTC datetimes.

    minute: the stored minute records (summed over devices when ``serial`` is None); hour: the
    report's hours (hourly record, else the minute sum), hours without data left out; day: every
    local day, with ``complete`` false where hours are missing, partial or not final. An open
    range is filled in as for a day report (:func:`zapledger.ranges.resolve_range`). With
    ``tariffs``, the cost columns are filled (report/_cost.py); a minute is priced at its own
    price, a day includes its standing charge.
    """
    res = ExportResolution(resolution)
    first_day, last_day = resolve_range(store, first_day, last_day, tz, serial=serial, now=now)
    return _rows(store, first_day, last_day, tz, res, serial, now, tariffs)


def _rows(
    store: Store,
    first_day: date,
    last_day: date,
    tz: str,
    res: ExportResolution,
    serial: str | None,
    now: datetime | None,
    tariffs: Tariffs | None = None,
) -> Iterator[dict[str, Any]]:
    from ._cost import cost_of_energy, cost_report, hour_costs

    if res is ExportResolution.MINUTE:
        start = local_day_window(first_day, tz, Resolution.MINUTE)[0]
        end = local_day_window(last_day, tz, Resolution.MINUTE)[1]
        book = None
        if tariffs is not None:
            from ..prices import price_book

            hours = local_day_window(first_day, tz)[0], local_day_window(last_day, tz)[1]
            book = price_book(store, tariffs, tz, *hours)
        devices = 1
        if serial is None:
            devices = max(1, len(store.zappi_serials()))
        step = Resolution.MINUTE.seconds
        at = start
        while at < end:  # a week per query keeps memory flat over years of minutes
            upto = min(end, at + _CHUNK)
            for r in store.iter_energy(serial, Resolution.MINUTE, at, upto, step):
                cost = None
                if book is not None:
                    imp, exp, _ = book.at(r.start)
                    cost = cost_of_energy(book.currency, [r.energy], [imp], [exp])
                yield _row(
                    r.start,
                    r.start + _MINUTE,
                    tz,
                    res,
                    serial,
                    "minute",
                    r.records,
                    r.records >= devices,
                    r.energy,
                    cost,
                )
            at = upto
        return
    series = hourly_series(store, first_day, last_day, tz, serial=serial, now=now)
    costs: HourCosts | None = None
    if tariffs is not None and res is ExportResolution.HOUR:
        from ..prices import price_book

        book = price_book(store, tariffs, tz, series.start, series.end)
        costs = hour_costs(store, series, book, serial=serial)
    if res is ExportResolution.HOUR:
        for s in series.slots:
            if s.counted:
                yield _row(
                    s.start,
                    s.start + _HOUR,
                    tz,
                    res,
                    serial,
                    s.status.value,
                    s.records,
                    s.complete,
                    s.energy,
                    costs.at(s.start) if costs is not None else None,
                )
        return
    report = aggregate(series, Period.DAY, first_day, last_day, tz, serial=serial)
    day_costs: list[Cost | None] = [None] * len(report.rows)
    if tariffs is not None:
        spans = [(p.start, p.end) for p in report.rows]
        found = cost_report(store, series, spans, Period.DAY, tz, tariffs, serial=serial)
        day_costs = list(found.rows)
    for p, day_cost in zip(report.rows, day_costs, strict=True):
        cov = p.coverage
        sources = [
            name
            for name, n in (
                (SlotStatus.HOUR.value, cov.hour_rows),
                (SlotStatus.MINUTE.value, cov.minute_hours + cov.partial_hours),
            )
            if n
        ]
        source = "mixed" if len(sources) > 1 else (sources[0] if sources else "none")
        yield _row(
            p.start, p.end, tz, res, serial, source, cov.records, cov.complete, p.energy, day_cost
        )


def _text_rows(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        row["start_utc"] = _iso(row["start_utc"])
        row["end_utc"] = _iso(row["end_utc"])
        yield row


def _write_csv(rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        n = 0
        for row in _text_rows(rows):
            row["complete"] = "true" if row["complete"] else "false"
            if row["cost_complete"] is not None:
                row["cost_complete"] = "true" if row["cost_complete"] else "false"
            writer.writerow(row)
            n += 1
        text.flush()
        return n
    finally:
        text.detach()


def _write_jsonl(rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    import msgspec

    encoder = msgspec.json.Encoder()
    buf = bytearray()
    n = 0
    for row in _text_rows(rows):
        encoder.encode_into(row, buf, -1)
        buf.extend(b"\n")
        n += 1
        if len(buf) > 1 << 20:
            out.write(buf)
            buf.clear()
    out.write(buf)
    out.flush()
    return n


def _parquet_schema() -> Any:
    import pyarrow as pa

    fields = [
        pa.field("start_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("end_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("start_local", pa.string(), nullable=False),
        pa.field("end_local", pa.string(), nullable=False),
        pa.field("tz", pa.string(), nullable=False),
        pa.field("resolution", pa.string(), nullable=False),
        pa.field("serial", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("records", pa.int64(), nullable=False),
        pa.field("complete", pa.bool_(), nullable=False),
    ]
    fields += [pa.field(f"{c}_j", pa.int64(), nullable=False) for c in ENERGY_COLUMNS]
    fields += [pa.field(f"{c}_kwh", pa.float64(), nullable=False) for c in ENERGY_COLUMNS]
    fields.append(pa.field("currency", pa.string()))
    fields += [pa.field(c, pa.decimal128(24, 6)) for c in COST_COLUMNS]
    fields.append(pa.field("cost_complete", pa.bool_()))
    return pa.schema(fields)


def _write_parquet(rows: Iterator[dict[str, Any]], out: IO[bytes] | Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "Parquet export needs pyarrow: pip install 'zapledger[parquet]'"
        ) from None
    schema = _parquet_schema()
    n = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for row in rows:
            for name in COST_COLUMNS:
                if row[name] is not None:
                    row[name] = Decimal(row[name])
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n += len(batch)
                batch.clear()
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            n += len(batch)
    return n


def write_export(
    rows: Iterator[dict[str, Any]],
    fmt: ExportFormat | str,
    dest: Path | IO[bytes],
    *,
    force: bool = False,
) -> int:
    """Write ``rows`` (from :func:`export_rows`) to a file or binary stream; returns the count.

    An existing file is refused (OutputError) unless ``force``.
    """
    from ..outputs import output_file

    kind = ExportFormat(fmt)
    if isinstance(dest, Path):
        with output_file(dest, force=force) as fh:
            return write_export(rows, kind, fh)
    if kind is ExportFormat.CSV:
        return _write_csv(rows, dest)
    if kind is ExportFormat.JSONL:
        return _write_jsonl(rows, dest)
    return _write_parquet(rows, dest)
