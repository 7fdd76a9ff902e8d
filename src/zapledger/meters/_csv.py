"""CSV import for any other meter: a timestamp plus totaliser columns in kWh.

Header (case-insensitive, any order, any subset of the totaliser columns, ``,`` or ``;``)::

    timestamp,import_t1_kwh,import_t2_kwh,export_t1_kwh,export_t2_kwh,pv_kwh,ev_kwh

An optional ``meter_id`` column names the meter per row. Timestamps are ISO 8601; without an
offset they are local time in the given zone (an ambiguous autumn hour is resolved by the order
of the rows; a time that does not exist, in the spring gap, is a bad row). Plain integers are
epoch seconds. An empty cell means "no reading of that channel in this row". Lines starting with
``#`` and blank lines are skipped. A row that does not parse is counted with its line number and
never stored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..exceptions import MeterError
from ..localtime import check_day, check_time, parse_tz
from ..models import MeterReading
from ._common import (
    DEFAULT_MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    Issue,
    IssueKind,
    ReadingSink,
    ReadStats,
    bounded_lines,
    kwh_to_joules,
    reading_time,
)

__all__ = ["CSV_COLUMNS", "CSV_HEADER", "DEFAULT_CSV_METER_ID", "import_csv", "parse_csv"]

#: Totaliser column -> channel.
CSV_COLUMNS: dict[str, str] = {
    "import_t1_kwh": "import_t1",
    "import_t2_kwh": "import_t2",
    "export_t1_kwh": "export_t1",
    "export_t2_kwh": "export_t2",
    "pv_kwh": "pv",
    "ev_kwh": "ev",
}
CSV_HEADER = "timestamp," + ",".join(CSV_COLUMNS)
DEFAULT_CSV_METER_ID = "csv"
_BATCH = 5000


class _BadLine(str):
    """A line that could not be read as text (too long, not UTF-8): a bad row, with why."""

    __slots__ = ("reason",)

    def __new__(cls, reason: str) -> _BadLine:
        line = super().__new__(cls, "")
        line.reason = reason
        return line

    reason: str


class _Times:
    """Naive local times to UTC, resolving the repeated autumn hour by row order."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.last: datetime | None = None

    def parse(self, text: str) -> datetime:
        value = text.strip()
        if value.isascii() and value.isdigit():
            if len(value) > 12:
                raise ValueError("epoch seconds out of range")
            return datetime.fromtimestamp(int(value), UTC)
        ts = datetime.fromisoformat(value)
        check_day(ts.date(), "time")  # before any zone arithmetic, which overflows near year 1
        if ts.tzinfo is not None:
            return ts.astimezone(UTC)
        first = ts.replace(tzinfo=self.zone, fold=0)
        second = ts.replace(tzinfo=self.zone, fold=1)
        first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
        if first_utc == second_utc:
            return first_utc
        # Round trip tells a gap (spring) from a fold (autumn): a gap time does not come back.
        if first_utc.astimezone(self.zone).replace(tzinfo=None) != ts:
            raise ValueError(f"{value} does not exist in {self.zone.key} (clocks jumped)")
        if self.last is not None and first_utc <= self.last:
            return second_utc
        return first_utc


def parse_csv(
    lines: Iterable[str],
    *,
    tz: str | ZoneInfo = "UTC",
    meter_id: str = DEFAULT_CSV_METER_ID,
    stats: ReadStats | None = None,
    sink: ReadingSink | None = None,
) -> ReadStats:
    """Parse CSV lines (header first); readings go to ``sink`` in batches, issues to the stats.

    A header without ``timestamp`` or without any totaliser column raises :class:`MeterError`:
    such a file cannot be read at all.
    """
    zone = parse_tz(tz)
    stats = stats or ReadStats(source="csv")
    times = _Times(zone)
    header: list[str] | None = None
    delimiter = ","
    batch: list[MeterReading] = []
    for line_no, line in enumerate(lines, start=1):
        if isinstance(line, _BadLine):
            stats.units += header is not None
            stats.add_issue(Issue(IssueKind.BAD_ROW, line.reason, line_no))
            continue
        text = line.rstrip("\r\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if header is None:
            delimiter = ";" if text.count(";") > text.count(",") else ","
            header = [h.strip().lower() for h in next(csv.reader([text], delimiter=delimiter))]
            _check_header(header, stats.source)
            continue
        stats.units += 1
        cells = next(csv.reader([text], delimiter=delimiter))
        try:
            readings = _row(header, cells, times, meter_id, stats.source)
        except ValueError as exc:
            stats.add_issue(Issue(IssueKind.BAD_ROW, str(exc), line_no))
            continue
        if not readings:
            stats.add_issue(Issue(IssueKind.BAD_ROW, "no totaliser value in the row", line_no))
            continue
        stats.accepted += 1
        stats.note_readings(readings)
        times.last = readings[0].timestamp
        batch.extend(readings)
        if sink is not None and len(batch) >= _BATCH:
            sink(batch)
            batch = []
    if header is None:
        raise MeterError(f"{stats.source}: no CSV header (want: {CSV_HEADER})")
    if sink is not None and batch:
        sink(batch)
    return stats


def _check_header(header: list[str], source: str) -> None:
    if "timestamp" not in header:
        raise MeterError(f"{source}: the CSV header has no 'timestamp' column (want: {CSV_HEADER})")
    if not any(h in CSV_COLUMNS for h in header):
        raise MeterError(
            f"{source}: the CSV header names no totaliser column (want some of: "
            f"{', '.join(CSV_COLUMNS)})"
        )


def _row(
    header: list[str], cells: list[str], times: _Times, default_id: str, source: str
) -> list[MeterReading]:
    if len(cells) != len(header):
        raise ValueError(f"{len(cells)} cells for {len(header)} columns")
    row = dict(zip(header, cells, strict=True))
    try:
        ts = reading_time(check_time(times.parse(row["timestamp"])))
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"timestamp {row['timestamp'][:40]!r}: {exc}") from None
    meter_id = (row.get("meter_id") or "").strip() or default_id
    readings = []
    for column, channel in CSV_COLUMNS.items():
        cell = (row.get(column) or "").strip()
        if not cell:
            continue
        try:
            total_j = kwh_to_joules(cell)
        except ValueError as exc:
            raise ValueError(f"{column}: {exc}") from None
        readings.append(MeterReading(meter_id, channel, ts, total_j, "csv", "meter"))
    return readings


def import_csv(
    path: str | Path,
    *,
    sink: ReadingSink | None = None,
    tz: str | ZoneInfo = "UTC",
    meter_id: str = DEFAULT_CSV_METER_ID,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ReadStats:
    """Import a CSV file (see the module doc for the header); returns what was read.

    The file is read a line at a time: a line that is too long or not UTF-8 is a bad row; more
    than ``max_bytes`` raises MeterError.
    """
    file = Path(path)
    stats = ReadStats(source=str(file))
    try:
        with file.open("rb") as fh:
            lines = _text_lines(bounded_lines(fh, str(file), max_bytes))
            return parse_csv(lines, tz=tz, meter_id=meter_id, stats=stats, sink=sink)
    except OSError as exc:
        raise MeterError(f"cannot read {file}: {exc.strerror or exc}") from None


def _text_lines(raw_lines: Iterable[bytes | None]) -> Iterator[str]:
    for number, raw in enumerate(raw_lines):
        if raw is None:
            yield _BadLine(f"longer than {MAX_LINE_BYTES:,} bytes")
            continue
        try:
            yield raw.decode("utf-8-sig" if number == 0 else "utf-8")
        except UnicodeDecodeError as exc:
            yield _BadLine(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line)")
