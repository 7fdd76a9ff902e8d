"""Shared pieces of meter input: channels, issues with their position, counters, the store writer.

Bad input is never fatal: every telegram, row or poll that cannot be used becomes an
:class:`Issue` (what, where) counted in :class:`ReadStats`, and reading goes on. Only input that
cannot be read at all (a missing file, a port that does not open) raises :class:`MeterError`.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, BinaryIO

from ..exceptions import MeterError
from ..models import MeterReading

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "CHANNELS",
    "DEFAULT_MAX_FILE_BYTES",
    "J_PER_KWH",
    "MAX_ISSUES_KEPT",
    "MAX_LINE_BYTES",
    "MAX_TOTALISER_KWH",
    "Issue",
    "IssueKind",
    "ReadStats",
    "ReadingSink",
    "StoreWriter",
    "bounded_lines",
    "kwh_to_joules",
    "reading_time",
]

#: Channels of :class:`MeterReading`: grid import and export per tariff, PV and EV totalisers.
CHANNELS: tuple[str, ...] = ("import_t1", "import_t2", "export_t1", "export_t2", "pv", "ev")
J_PER_KWH = 3_600_000
#: Bounds of meter input. A file larger than DEFAULT_MAX_FILE_BYTES stops with a MeterError
#: (configurable: the ``max_file_bytes`` setting); a line longer than MAX_LINE_BYTES (a DSMR line
#: or CSV row is below 1 KB) is skipped as bad input, so memory stays small whatever comes in.
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
#: The largest totaliser value believed (kWh): far above any meter, far below int64 joules.
MAX_TOTALISER_KWH = Decimal(10) ** 9
#: How many issues a :class:`ReadStats` keeps in detail (all are counted).
MAX_ISSUES_KEPT = 200

#: Something that takes readings as they are decoded (a :class:`StoreWriter`, a list's extend).
ReadingSink = Callable[[list[MeterReading]], object]


class IssueKind(enum.StrEnum):
    """Why a telegram, row or poll was not used (or, for ``unknown_obis``, a line of it)."""

    CRC = "crc"  # DSMR 4/5 telegram whose CRC16 does not match (or is missing)
    TRUNCATED = "truncated"  # a telegram that stops before its '!' line
    PARSE = "parse"  # dsmr-parser refused a line of the telegram
    GARBLED = "garbled"  # bytes that are not ASCII inside a telegram
    UNKNOWN_OBIS = "unknown_obis"  # a line no object of the DSMR version describes (ignored)
    NO_TOTALISER = "no_totaliser"  # a telegram without any energy totaliser
    NO_TIME = "no_time"  # neither meter time nor receive time is known
    GARBAGE = "garbage"  # data outside any telegram
    BAD_DIRECTIVE = "bad_directive"  # a '# received' line whose time does not parse
    BAD_ROW = "bad_row"  # a CSV row that does not parse
    POLL = "poll"  # a HomeWizard request that failed


@dataclass(frozen=True, slots=True)
class Issue:
    """One unusable piece of input, with where it was: 1-based line and/or 0-based byte offset."""

    kind: IssueKind
    message: str
    line: int | None = None
    byte: int | None = None

    def where(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.byte is not None:
            parts.append(f"byte {self.byte}")
        return ", ".join(parts) or "—"

    def __str__(self) -> str:
        return f"{self.where()}: {self.kind.value}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "line": self.line,
            "byte": self.byte,
        }


@dataclass
class ReadStats:
    """What reading one source produced: counts, the first issues in detail, the time span."""

    source: str
    units: int = 0  # telegrams, CSV rows or polls seen
    accepted: int = 0  # those that gave readings
    readings: int = 0  # readings decoded (one per channel)
    stored: int = 0  # readings handed to the store (after thinning)
    thinned: int = 0  # readings dropped by the --every thinning
    first: datetime | None = None
    last: datetime | None = None
    meter_ids: set[str] = field(default_factory=set)
    issue_counts: Counter[str] = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return sum(self.issue_counts.values())

    def add_issue(self, issue: Issue) -> None:
        self.issue_counts[issue.kind.value] += 1
        if len(self.issues) < MAX_ISSUES_KEPT:
            self.issues.append(issue)

    def note_readings(self, readings: Iterable[MeterReading]) -> None:
        for r in readings:
            self.readings += 1
            self.meter_ids.add(r.meter_id)
            if self.first is None or r.timestamp < self.first:
                self.first = r.timestamp
            if self.last is None or r.timestamp > self.last:
                self.last = r.timestamp

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "units": self.units,
            "accepted": self.accepted,
            "readings": self.readings,
            "stored": self.stored,
            "thinned": self.thinned,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "meter_ids": sorted(self.meter_ids),
            "issue_counts": dict(sorted(self.issue_counts.items())),
            "issues": [i.as_dict() for i in self.issues],
        }


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def reading_time(ts: datetime) -> datetime:
    """A reading's time as stored: aware UTC, whole seconds (the store keys on epoch seconds)."""
    if ts.tzinfo is None:
        raise ValueError("meter reading times must be aware")
    return ts.astimezone(UTC).replace(microsecond=0)


def kwh_to_joules(value: Decimal | str | float) -> int:
    """kWh (as the meter prints it) to integer joules, exactly for decimal input.

    Raises ValueError for anything that is not a finite, non-negative number.
    """
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    if number > MAX_TOTALISER_KWH:
        raise ValueError(f"{value!r} kWh is over the limit of {MAX_TOTALISER_KWH:,} kWh")
    return int((number * J_PER_KWH).to_integral_value())


def over_limit(source: str, max_bytes: int) -> MeterError:
    return MeterError(
        f"{source}: more than the limit of {max_bytes:,} bytes (the max_file_bytes setting "
        "raises it)"
    )


def bounded_lines(
    stream: BinaryIO, source: str, max_bytes: int, max_line: int = MAX_LINE_BYTES
) -> Iterator[bytes | None]:
    """The lines of a binary stream, read a line at a time; None stands for a line longer than
    ``max_line`` (skipped unread). More than ``max_bytes`` in all raises MeterError."""
    total = 0
    while True:
        line = stream.readline(max_line + 1)
        if not line:
            return
        total += len(line)
        if total > max_bytes:
            raise over_limit(source, max_bytes)
        if len(line) <= max_line or line.endswith(b"\n"):
            yield line
            continue
        while not line.endswith(b"\n"):  # the rest of an overlong line, a bounded piece at a time
            line = stream.readline(max_line + 1)
            if not line:
                break
            total += len(line)
            if total > max_bytes:
                raise over_limit(source, max_bytes)
        yield None


class StoreWriter:
    """A :data:`ReadingSink` that thins readings and writes them to the store in batches.

    ``every_s`` keeps at most one reading per meter and channel in that many seconds (0 keeps
    all); a batch is written when it holds ``batch`` readings or ``flush_s`` seconds have passed.
    The store's upsert is idempotent, so importing the same capture twice changes nothing.
    """

    def __init__(
        self,
        store: Store,
        *,
        every_s: float = 0.0,
        batch: int = 5000,
        flush_s: float = 60.0,
        on_flush: Callable[[int], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.on_flush = on_flush
        self.every_s = every_s
        self.batch = batch
        self.flush_s = flush_s
        self._monotonic = monotonic
        self._pending: list[MeterReading] = []
        self._last_kept: dict[tuple[str, str], datetime] = {}
        self._last_flush = monotonic()
        self.written = 0
        self.thinned = 0
        self.flushes = 0

    def __call__(self, readings: list[MeterReading]) -> None:
        for r in readings:
            key = (r.meter_id, r.channel)
            last = self._last_kept.get(key)
            if (
                self.every_s > 0
                and last is not None
                and last <= r.timestamp
                and (r.timestamp - last).total_seconds() < self.every_s
            ):
                self.thinned += 1
                continue
            self._last_kept[key] = r.timestamp
            self._pending.append(r)
        if len(self._pending) >= self.batch or (
            self._pending and self._monotonic() - self._last_flush >= self.flush_s
        ):
            self.flush()

    def flush(self) -> int:
        """Write what is pending; returns how many readings were handed to the store."""
        self._last_flush = self._monotonic()
        if not self._pending:
            return 0
        pending, self._pending = self._pending, []
        self.store.upsert_meter_readings(pending)
        self.written += len(pending)
        self.flushes += 1
        if self.on_flush is not None:
            self.on_flush(len(pending))
        return len(pending)

    def account(self, stats: ReadStats) -> ReadStats:
        """Copy what was written and thinned into ``stats`` (after the last flush)."""
        stats.stored, stats.thinned = self.written, self.thinned
        return stats
