"""The statements both back ends share, built once per dialect.

Placeholders are ``?``; the PostgreSQL back end translates them. Every upsert updates a row only
when a value differs (``WHERE (old) IS DISTINCT FROM (new)``), so an identical rerun writes nothing
and its row count is 0.
"""

from __future__ import annotations

from functools import cache

from ._schema import HISTORY_COLUMNS, STATUS_COLUMNS, SYNC_COLUMNS, Dialect

__all__ = [
    "ENERGY_TERMS",
    "SYNC_COLUMNS",
    "SYNC_FIELDS",
    "SYNC_SUCCESS_COLUMNS",
    "device_upsert",
    "energy_grouped",
    "energy_rows",
    "history_select",
    "history_upsert",
    "meter_upsert",
    "pacing_upsert",
    "status_upsert",
    "sync_failure",
    "sync_select",
    "sync_success",
    "upsert",
]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


@cache
def upsert(
    dialect: Dialect,
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    source: str | None = None,
) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` that touches the row only when a value changed.

    The rows come from ``?`` parameters, or from the table ``source`` when one is named.
    """
    cols = ", ".join(key + values)
    rows = (
        f"VALUES ({_marks(len(key) + len(values))})"
        if source is None
        else (f"SELECT {cols} FROM {source}")
    )
    old = ", ".join(f"{table}.{c}" for c in values)
    new = ", ".join(f"excluded.{c}" for c in values)
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    # a one-column "row value" is just a parenthesised value in both dialects
    return dialect.render(
        f"INSERT INTO {table} ({cols}) {rows} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets} "
        f"WHERE ({old}) {{distinct}} ({new})"
    )


HISTORY_KEY = ("serial", "ts")
STATUS_KEY = ("serial", "ts")
SYNC_KEY = ("serial", "resolution", "day_start")
METER_KEY = ("meter_id", "channel", "ts")
METER_VALUES = ("total_j", "source", "time_source")
PACING_KEY = ("account", "server")
PACING_VALUES = ("rate_per_s", "concurrency", "ceiling_per_s", "latency_s", "updated_at")
DEVICE_KEY = ("serial",)
DEVICE_VALUES = ("device_type", "name")


def history_upsert(dialect: Dialect, table: str, source: str | None = None) -> str:
    return upsert(dialect, table, HISTORY_KEY, HISTORY_COLUMNS, source)


def pacing_upsert(dialect: Dialect) -> str:
    return upsert(dialect, "pacing_limits", PACING_KEY, PACING_VALUES)


def status_upsert(dialect: Dialect) -> str:
    return upsert(dialect, "zappi_status", STATUS_KEY, STATUS_COLUMNS)


def meter_upsert(dialect: Dialect) -> str:
    return upsert(dialect, "meter_readings", METER_KEY, METER_VALUES)


@cache
def device_upsert(dialect: Dialect) -> str:
    """A device keeps its name when upserted again without one."""
    return dialect.render(
        "INSERT INTO devices (serial, device_type, name) VALUES (?, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET device_type = excluded.device_type, "
        "name = COALESCE(excluded.name, devices.name) "
        "WHERE (devices.device_type, devices.name) {distinct} "
        "(excluded.device_type, COALESCE(excluded.name, devices.name))"
    )


_SYNC_SUCCESS_VALUES = tuple(c for c in SYNC_COLUMNS if c not in SYNC_KEY)
#: Parameter order of :func:`sync_success`.
SYNC_SUCCESS_COLUMNS = SYNC_KEY + _SYNC_SUCCESS_VALUES


def sync_success(dialect: Dialect) -> str:
    """Sync state after a good fetch: every column replaced, failures forgotten."""
    return upsert(dialect, "sync_state", SYNC_KEY, _SYNC_SUCCESS_VALUES)


@cache
def sync_failure(dialect: Dialect) -> str:
    """Sync state after a failed fetch: one more attempt and its reason; the rest is kept."""
    cols = ", ".join(SYNC_COLUMNS)
    return dialect.render(
        f"INSERT INTO sync_state ({cols}) VALUES ({_marks(len(SYNC_COLUMNS))}) "
        f"ON CONFLICT ({', '.join(SYNC_KEY)}) DO UPDATE SET "
        "attempts = sync_state.attempts + 1, error = excluded.error, "
        "last_attempt_at = excluded.last_attempt_at"
    )


#: SyncState fields, in the dataclass's order.
SYNC_FIELDS = SYNC_COLUMNS[:-1]


def sync_select(where: str) -> str:
    return f"SELECT {', '.join(SYNC_FIELDS)} FROM sync_state WHERE {where} ORDER BY day_start"


def history_select(table: str) -> str:
    return (
        f"SELECT ts, {', '.join(HISTORY_COLUMNS)} FROM {table} "
        "WHERE serial = ? AND ts >= ? AND ts < ? ORDER BY ts"
    )


_DIVERTED = "diverted_h1_j + diverted_h2_j + diverted_h3_j"
_BOOSTED = "boosted_h1_j + boosted_h2_j + boosted_h3_j"
_SITE = ("import_j", "export_j", "generation_j", "generation_negative_j")


#: The summed expressions of a bucket row, after its start and record count.
ENERGY_TERMS = (*_SITE, _DIVERTED, _BOOSTED)


@cache
def energy_grouped(dialect: Dialect, table: str) -> str:
    """Sums per UTC-aligned bucket of one device. Params: bucket_s, serial, start, end."""
    sums = ", ".join(f"CAST(SUM({expr}) AS {{bigint}})" for expr in ENERGY_TERMS)
    return dialect.render(
        f"SELECT ts - ts % ? AS bucket, COUNT(*), {sums} FROM {table} "
        "WHERE serial = ? AND ts >= ? AND ts < ? GROUP BY bucket ORDER BY bucket"
    )


@cache
def energy_rows(dialect: Dialect, table: str) -> str:
    """Bucket rows of single records, for buckets no longer than a record: no sort, no grouping.

    Params: bucket_s, serial, start, end.
    """
    return dialect.render(
        f"SELECT ts - ts % ?, 1, {', '.join(ENERGY_TERMS)} FROM {table} "
        "WHERE serial = ? AND ts >= ? AND ts < ? ORDER BY ts"
    )
