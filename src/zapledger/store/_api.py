"""The store's public contract: value types and the abstract Store both back ends implement.

Energy is integer joules, timestamps are aware UTC datetimes (stored as integer epoch seconds).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Self

from ..models import (
    Device,
    EnergyBucket,
    History,
    HistoryRecord,
    MeterReading,
    PricePoint,
    Resolution,
    StatusSnapshot,
    ZappiStatus,
)
from ..pacing import ServerLimits

__all__ = ["Store", "SyncState"]


@dataclass(frozen=True, slots=True)
class SyncState:
    """What is known of one local day of one device at one resolution."""

    serial: str
    resolution: Resolution
    day: date  # the local calendar day
    tz: str  # IANA zone the day is local to
    day_start: datetime  # UTC start of that local day
    fetched_at: datetime | None
    records: int
    expected: int
    missing: int
    duplicates_dropped: int
    suspect: int
    final: bool
    attempts: int
    error: str | None  # reason of the last failure, None once a fetch succeeded


class Store(abc.ABC):
    """One schema, two back ends. Writes are idempotent upserts keyed on (serial, timestamp)."""

    url: str

    # lifecycle
    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def schema_version(self) -> int: ...

    # devices and status
    @abc.abstractmethod
    def upsert_device(self, serial: str, device_type: str, name: str | None = None) -> None: ...

    @abc.abstractmethod
    def devices(self) -> list[Device]:
        """Every known device, by serial."""

    def zappi_serials(self) -> list[str]:
        """Serials of the stored zappis: what "every zappi" means for a report or a check."""
        return [d.serial for d in self.devices() if d.is_zappi]

    @abc.abstractmethod
    def add_status(self, status: ZappiStatus, fetched_at: datetime) -> None:
        """Store a status snapshot: decoded columns plus raw JSON; idempotent on (serial, time)."""

    @abc.abstractmethod
    def statuses(self, serial: str, start: datetime, end: datetime) -> list[StatusSnapshot]:
        """Snapshots with ``start <= timestamp < end``, in time order."""

    # history
    @abc.abstractmethod
    def upsert_history(
        self, serial: str, resolution: Resolution, records: Iterable[HistoryRecord]
    ) -> int:
        """Insert or replace records in one transaction; returns how many rows were written."""

    @abc.abstractmethod
    def write_day(
        self,
        serial: str,
        resolution: Resolution,
        day: date,
        tz: str,
        history: History,
        *,
        expected: int,
        final: bool,
        fetched_at: datetime,
    ) -> int:
        """Write a local day's records and its sync state in ONE transaction (never half a day)."""

    @abc.abstractmethod
    def record_failure(
        self, serial: str, resolution: Resolution, day: date, tz: str, reason: str, at: datetime
    ) -> None:
        """Remember that fetching a day failed (attempts + 1, error = reason); keeps its rows."""

    @abc.abstractmethod
    def sync_states(
        self, serial: str, resolution: Resolution, since: date, until: date
    ) -> dict[date, SyncState]: ...

    @abc.abstractmethod
    def last_synced_day(self, serial: str, resolution: Resolution) -> date | None: ...

    @abc.abstractmethod
    def history(
        self, serial: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[HistoryRecord]:
        """Stored records with ``start <= timestamp < end``, in time order."""

    @abc.abstractmethod
    def iter_energy(
        self,
        serial: str | None,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        bucket_s: int = 3600,
    ) -> Iterator[EnergyBucket]:
        """Energy summed in the database per ``bucket_s`` (UTC-aligned), for reports.

        ``serial=None`` sums every zappi, except the site-wide import/export/generation, which
        are taken from one device only (they are seen by each device on the grid CT).
        """

    @abc.abstractmethod
    def first_record_time(self, serial: str | None = None) -> datetime | None:
        """Start of the earliest stored history record of either resolution, if any."""

    @abc.abstractmethod
    def count_history(self, serial: str | None, resolution: Resolution) -> int: ...

    # meters
    @abc.abstractmethod
    def upsert_meter_readings(self, readings: Iterable[MeterReading]) -> int: ...

    @abc.abstractmethod
    def meter_readings(
        self, meter_id: str | None, channel: str | None, start: datetime, end: datetime
    ) -> list[MeterReading]: ...

    @abc.abstractmethod
    def meters(self) -> Sequence[tuple[str, str]]:
        """(meter_id, channel) pairs that have readings."""

    # pacing (the store is a zapledger.pacing.PacingMemory)
    @abc.abstractmethod
    def pacing_limits(self, account: str) -> dict[str, ServerLimits]:
        """The limits learned for ``account`` (hub serial), by server (``host[:port]``)."""

    @abc.abstractmethod
    def save_pacing_limits(self, account: str, limits: Mapping[str, ServerLimits]) -> None:
        """Keep (insert or replace) learned limits of ``account``'s servers."""

    # prices of dynamic tariffs
    @abc.abstractmethod
    def upsert_prices(self, prices: Iterable[PricePoint]) -> int:
        """Insert or replace prices keyed (tariff, start, duration); rows changed."""

    @abc.abstractmethod
    def price_rows(self, tariff: str, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
        """The same as :meth:`prices`, as plain rows (start epoch s, duration_s, micro_per_kwh,
        currency, source): for readers of years of prices."""

    @abc.abstractmethod
    def prices(self, tariff: str, start: datetime, end: datetime) -> list[PricePoint]:
        """Prices of one series whose interval overlaps ``[start, end)``, by start."""

    @abc.abstractmethod
    def price_series(self) -> list[tuple[str, int]]:
        """(series name, number of prices) of every stored series."""
