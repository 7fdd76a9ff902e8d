"""Everything both SQL back ends do the same way, over four driver primitives.

A back end supplies a connection, its transaction, ``_execute``/``_executemany``/``_fetchall`` with
``?`` placeholders, and the few conversions its driver does differently; this class turns the
:class:`Store` contract into SQL. One connection per Store, guarded by a lock so the object may be
handed between threads (one operation at a time).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import msgspec

from ..exceptions import StoreError
from ..models import (
    Device,
    Energy,
    EnergyBucket,
    History,
    HistoryRecord,
    MeterReading,
    Resolution,
    StatusSnapshot,
    ZappiStatus,
)
from ..pacing import ServerLimits
from . import _sql
from ._api import Store, SyncState
from ._combine import combine_devices, merge_adjacent
from ._convert import (
    Row,
    day_start_utc,
    enum_name,
    epoch,
    epoch_ceil,
    history_rows,
    utc,
)
from ._errors import store_error
from ._prices import PriceQueries
from ._schema import (
    HISTORY_COLUMNS,
    HISTORY_TABLES,
    LATEST_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    STATUS_COLUMNS,
    Dialect,
)

__all__ = ["SqlStore"]


class SqlStore(PriceQueries, Store):
    """The shared implementation; subclasses connect and provide the primitives."""

    dialect: ClassVar[Dialect]
    #: exceptions of the driver that become StoreError
    driver_errors: ClassVar[tuple[type[BaseException], ...]]

    def __init__(self, url: str, secrets: list[str]) -> None:
        self.url = url  # already redacted
        self._secrets = secrets
        self._lock = threading.RLock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # --- driver primitives -------------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """A write transaction: committed on exit, rolled back on any exception."""

    @abc.abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: the statements inside see one consistent state."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abc.abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement per row; the number of rows changed."""

    @abc.abstractmethod
    def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abc.abstractmethod
    def _close_connection(self) -> None: ...

    @abc.abstractmethod
    def _table_exists(self, name: str) -> bool: ...

    def _lock_schema(self) -> None:
        """Serialise concurrent migrations (inside the migration transaction)."""

    def _date_param(self, day: date) -> Any:
        return day

    def _date_value(self, value: Any) -> date:
        assert isinstance(value, date)
        return value

    def _write_history(self, table: str, rows: Iterator[Row]) -> int:
        return self._executemany(_sql.history_upsert(self.dialect, table), rows)

    # --- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """One operation at a time; driver errors become a one-line StoreError."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{action} failed on {self.url}: the store is closed")
            try:
                yield
            except self.driver_errors as exc:
                raise store_error(action, self.url, exc, self._secrets) from exc

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_connection()

    def _migrate(self, target: int = LATEST_VERSION) -> None:
        """Bring the schema to ``target`` by replaying the numbered steps it lacks."""
        if self._table_exists("schema_migrations") and self._current_version() == target:
            return
        with self._transaction():
            self._lock_schema()
            self._execute(self.dialect.render(MIGRATIONS_TABLE))
            current = self._current_version()
            if current > LATEST_VERSION:
                raise StoreError(
                    f"{self.url} has schema version {current}, newer than this zapledger knows "
                    f"({LATEST_VERSION}): upgrade zapledger"
                )
            for step in MIGRATIONS:
                if current < step.version <= target:
                    for statement in step.statements:
                        self._execute(self.dialect.render(statement))
                    self._execute(
                        "INSERT INTO schema_migrations (version, description, applied_at) "
                        "VALUES (?, ?, ?)",
                        (step.version, step.description, int(time.time())),
                    )

    def _current_version(self) -> int:
        (version,) = self._fetchall("SELECT MAX(version) FROM schema_migrations")[0]
        if version is None:
            return 0
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise StoreError(
                f"{self.url} has a corrupt schema version ({str(version)[:40]!r} in "
                "schema_migrations): restore a backup or start a new database"
            )
        return version

    def schema_version(self) -> int:
        with self._guard("reading the schema version"):
            return self._current_version()

    # --- devices and status ------------------------------------------------------------------

    def upsert_device(self, serial: str, device_type: str, name: str | None = None) -> None:
        with self._guard("writing a device"), self._transaction():
            self._execute(_sql.device_upsert(self.dialect), (serial, device_type, name))

    def devices(self) -> list[Device]:
        with self._guard("reading devices"):
            rows = self._fetchall("SELECT serial, device_type, name FROM devices ORDER BY serial")
        return [Device(r[0], r[1], r[2]) for r in rows]

    def add_status(self, status: ZappiStatus, fetched_at: datetime) -> None:
        """Keyed on the status's own time, or ``fetched_at`` when it carries none."""
        raw = msgspec.json.encode(dict(status.raw), enc_hook=str).decode()
        row = (
            status.serial,
            epoch(status.timestamp or fetched_at),
            epoch(fetched_at),
            status.firmware,
            enum_name(status.mode),
            enum_name(status.charge_status),
            None if status.plug_status is None else status.plug_status.value,
            status.voltage_v,
            status.frequency_hz,
            status.grid_power_w,
            status.generation_power_w,
            status.charge_power_w,
            status.charge_added_kwh,
            raw,
        )
        with self._guard("writing a status"), self._transaction():
            self._execute(_sql.status_upsert(self.dialect), row)

    def statuses(self, serial: str, start: datetime, end: datetime) -> list[StatusSnapshot]:
        """Snapshots with ``start <= time < end`` in time order: decoded columns plus ``raw``."""
        cols = ("ts", *STATUS_COLUMNS)
        with self._guard("reading statuses"):
            rows = self._fetchall(
                f"SELECT {', '.join(cols)} FROM zappi_status "
                "WHERE serial = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (serial, epoch_ceil(start), epoch_ceil(end)),
            )
        out: list[StatusSnapshot] = []
        for row in rows:
            item: dict[str, Any] = dict(zip(cols, row, strict=True))
            item["timestamp"] = utc(item.pop("ts"))
            item["fetched_at"] = utc(item["fetched_at"])
            item["raw"] = msgspec.json.decode(item["raw"])
            out.append(StatusSnapshot(serial=serial, **item))
        return out

    # --- history -----------------------------------------------------------------------------

    def upsert_history(
        self, serial: str, resolution: Resolution, records: Iterable[HistoryRecord]
    ) -> int:
        """Rows inserted or changed (0 when the same records are written again)."""
        batch = records if isinstance(records, Sequence) else list(records)
        if not batch:
            return 0
        rows = history_rows(serial, batch)
        with self._guard("writing history"), self._transaction():
            return self._write_history(HISTORY_TABLES[resolution], rows)

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
        """Records and sync state in one transaction; a success clears attempts and error.

        ``missing`` is the larger of the history's gaps and ``expected - records``.
        """
        if history.resolution is not resolution:
            raise ValueError(f"{history.resolution.value} history written as {resolution.value}")
        rows = history_rows(serial, history.records)
        count = len(history.records)
        start = epoch(day_start_utc(day, tz))
        fetched = epoch(fetched_at)
        state = {
            "serial": serial,
            "resolution": resolution.value,
            "day_start": start,
            "day": self._date_param(day),
            "tz": tz,
            "fetched_at": fetched,
            "records": count,
            "expected": expected,
            "missing": max(history.missing, expected - count, 0),
            "duplicates_dropped": history.duplicates_dropped,
            "suspect": history.suspect,
            "final": final,
            "attempts": 0,
            "error": None,
            "last_attempt_at": fetched,
        }
        with self._guard(f"writing {serial} {resolution.value} {day}"), self._transaction():
            written = self._write_history(HISTORY_TABLES[resolution], rows) if count else 0
            self._write_sync_state([state[c] for c in _sql.SYNC_SUCCESS_COLUMNS])
            return written

    def _write_sync_state(self, params: Sequence[Any]) -> None:
        self._execute(_sql.sync_success(self.dialect), params)

    def record_failure(
        self, serial: str, resolution: Resolution, day: date, tz: str, reason: str, at: datetime
    ) -> None:
        """``attempts`` counts failures since the last success (which resets it to 0)."""
        start = epoch(day_start_utc(day, tz))
        row = {
            "serial": serial,
            "resolution": resolution.value,
            "day": self._date_param(day),
            "tz": tz,
            "day_start": start,
            "fetched_at": None,
            "records": 0,
            "expected": 0,
            "missing": 0,
            "duplicates_dropped": 0,
            "suspect": 0,
            "final": False,
            "attempts": 1,
            "error": reason,
            "last_attempt_at": epoch(at),
        }
        with self._guard(f"recording a failure of {serial} {day}"), self._transaction():
            self._execute(_sql.sync_failure(self.dialect), [row[c] for c in _sql.SYNC_COLUMNS])

    def _sync_state(self, row: Row) -> SyncState:
        values = dict(zip(_sql.SYNC_FIELDS, row, strict=True))
        return SyncState(
            serial=values["serial"],
            resolution=Resolution(values["resolution"]),
            day=self._date_value(values["day"]),
            tz=values["tz"],
            day_start=datetime.fromtimestamp(values["day_start"], UTC),
            fetched_at=utc(values["fetched_at"]),
            records=values["records"],
            expected=values["expected"],
            missing=values["missing"],
            duplicates_dropped=values["duplicates_dropped"],
            suspect=values["suspect"],
            final=bool(values["final"]),
            attempts=values["attempts"],
            error=values["error"],
        )

    def sync_states(
        self, serial: str, resolution: Resolution, since: date, until: date
    ) -> dict[date, SyncState]:
        """States of the local days ``since <= day <= until`` (both inclusive)."""
        with self._guard("reading sync state"):
            rows = self._fetchall(
                _sql.sync_select("serial = ? AND resolution = ? AND day >= ? AND day <= ?"),
                (serial, resolution.value, self._date_param(since), self._date_param(until)),
            )
        states = (self._sync_state(r) for r in rows)
        return {s.day: s for s in states}

    def last_synced_day(self, serial: str, resolution: Resolution) -> date | None:
        """The latest local day stored as final (complete and settled); None before any."""
        with self._guard("reading sync state"):
            rows = self._fetchall(
                "SELECT day FROM sync_state WHERE serial = ? AND resolution = ? AND final = ? "
                "ORDER BY day_start DESC LIMIT 1",
                (serial, resolution.value, True),
            )
        return self._date_value(rows[0][0]) if rows else None

    def history(
        self, serial: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[HistoryRecord]:
        table = HISTORY_TABLES[resolution]
        with self._guard("reading history"):
            rows = self._fetchall(
                _sql.history_select(table), (serial, epoch_ceil(start), epoch_ceil(end))
            )
        duration = resolution.seconds
        return [
            HistoryRecord(
                timestamp=datetime.fromtimestamp(row[0], UTC),
                duration_s=duration,
                **dict(zip(HISTORY_COLUMNS, row[1:], strict=True)),
            )
            for row in rows
        ]

    def _serials(self, table: str) -> list[str]:
        """Distinct serials by hopping along the primary key (a loose index scan)."""
        serials: list[str] = []
        (current,) = self._fetchall(f"SELECT MIN(serial) FROM {table}")[0]
        while current is not None:
            serials.append(current)
            (current,) = self._fetchall(
                f"SELECT MIN(serial) FROM {table} WHERE serial > ?", (current,)
            )[0]
        return serials

    def _bucket_sums(
        self, table: str, serial: str, resolution: Resolution, bucket_s: int, lo: int, hi: int
    ) -> list[Row]:
        """One device's bucket rows (see ``_combine``), summed in the database, in time order."""
        if bucket_s <= resolution.seconds:
            sql = _sql.energy_rows(self.dialect, table)
            return merge_adjacent(self._fetchall(sql, (bucket_s, serial, lo, hi)))
        return self._fetchall(_sql.energy_grouped(self.dialect, table), (bucket_s, serial, lo, hi))

    def iter_energy(
        self,
        serial: str | None,
        resolution: Resolution,
        start: datetime,
        end: datetime,
        bucket_s: int = 3600,
    ) -> Iterator[EnergyBucket]:
        """Buckets that hold records, in time order; ``records`` counts rows of every device.

        With ``serial=None`` the site-wide import/export/generation of a bucket come from the
        lowest serial that reports any of them in it; diverted/boosted energy is summed (see
        :func:`~zapledger.store._combine.combine_devices`).
        """
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be positive, got {bucket_s}")
        table = HISTORY_TABLES[resolution]
        lo, hi = epoch_ceil(start), epoch_ceil(end)
        with self._guard("summing energy"), self._snapshot():
            serials = [serial] if serial is not None else self._serials(table)
            per_device = [
                (s, self._bucket_sums(table, s, resolution, bucket_s, lo, hi)) for s in serials
            ]
        rows = combine_devices(per_device) if per_device else []
        from_ts = datetime.fromtimestamp
        return iter([EnergyBucket(from_ts(r[0], UTC), r[1], Energy(*r[2:])) for r in rows])

    def first_record_time(self, serial: str | None = None) -> datetime | None:
        firsts: list[int] = []
        with self._guard("reading history"), self._snapshot():
            for table in HISTORY_TABLES.values():
                # per serial, so each MIN walks the primary key instead of the table
                for sn in [serial] if serial is not None else self._serials(table):
                    (value,) = self._fetchall(
                        f"SELECT MIN(ts) FROM {table} WHERE serial = ?", (sn,)
                    )[0]
                    if value is not None:
                        firsts.append(int(value))
        return datetime.fromtimestamp(min(firsts), UTC) if firsts else None

    def count_history(self, serial: str | None, resolution: Resolution) -> int:
        table = HISTORY_TABLES[resolution]
        with self._guard("counting history"):
            if serial is None:
                rows = self._fetchall(f"SELECT COUNT(*) FROM {table}")
            else:
                rows = self._fetchall(f"SELECT COUNT(*) FROM {table} WHERE serial = ?", (serial,))
        return int(rows[0][0])

    # --- meters ------------------------------------------------------------------------------

    def upsert_meter_readings(self, readings: Iterable[MeterReading]) -> int:
        """Rows inserted or changed; keyed on (meter_id, channel, timestamp)."""
        rows = [
            (r.meter_id, r.channel, epoch(r.timestamp), r.total_j, r.source, r.time_source)
            for r in readings
        ]
        if not rows:
            return 0
        with self._guard("writing meter readings"), self._transaction():
            return self._executemany(_sql.meter_upsert(self.dialect), rows)

    def meter_readings(
        self, meter_id: str | None, channel: str | None, start: datetime, end: datetime
    ) -> list[MeterReading]:
        """Readings with ``start <= timestamp < end``, ordered by meter, channel and time."""
        bounds = (epoch_ceil(start), epoch_ceil(end))
        sql = (
            "SELECT meter_id, channel, ts, total_j, source, time_source FROM meter_readings "
            "WHERE meter_id = ? AND channel = ? AND ts >= ? AND ts < ? ORDER BY ts"
        )
        out: list[MeterReading] = []
        with self._guard("reading meter readings"), self._snapshot():
            for pair_meter, pair_channel in self._meters():
                if meter_id not in (None, pair_meter) or channel not in (None, pair_channel):
                    continue
                for row in self._fetchall(sql, (pair_meter, pair_channel, *bounds)):
                    ts = datetime.fromtimestamp(row[2], UTC)
                    out.append(MeterReading(row[0], row[1], ts, row[3], row[4], row[5]))
        return out

    def meters(self) -> Sequence[tuple[str, str]]:
        with self._guard("reading meters"):
            return self._meters()

    def _meters(self) -> list[tuple[str, str]]:
        """Distinct (meter_id, channel) by hopping along the primary key."""
        pairs: list[tuple[str, str]] = []
        sql = "SELECT meter_id, channel FROM meter_readings {} ORDER BY meter_id, channel LIMIT 1"
        rows = self._fetchall(sql.format(""))
        while rows:
            pair = (rows[0][0], rows[0][1])
            pairs.append(pair)
            rows = self._fetchall(sql.format("WHERE (meter_id, channel) > (?, ?)"), pair)
        return pairs

    # --- pacing ------------------------------------------------------------------------------

    def pacing_limits(self, account: str) -> dict[str, ServerLimits]:
        sql = (
            "SELECT server, rate_per_s, concurrency, ceiling_per_s, latency_s, updated_at "
            "FROM pacing_limits WHERE account = ? ORDER BY server"
        )
        with self._guard("reading pacing limits"):
            rows = self._fetchall(sql, (account,))
        return {
            row[0]: ServerLimits(
                float(row[1]),
                int(row[2]),
                None if row[3] is None else float(row[3]),
                None if row[4] is None else float(row[4]),
                datetime.fromtimestamp(row[5], UTC),
            )
            for row in rows
        }

    def save_pacing_limits(self, account: str, limits: Mapping[str, ServerLimits]) -> None:
        rows = [
            (
                account,
                server,
                lim.rate_per_s,
                lim.concurrency,
                lim.ceiling_per_s,
                lim.latency_s,
                epoch(lim.updated_at),
            )
            for server, lim in limits.items()
        ]
        if not rows:
            return
        with self._guard("writing pacing limits"), self._transaction():
            self._executemany(_sql.pacing_upsert(self.dialect), rows)
