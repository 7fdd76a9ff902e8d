"""The one schema of both back ends, as numbered migration steps.

Each step is frozen once released: a later change is a new step, never an edit, so that opening an
older database replays exactly the steps it lacks. The SQL is written once with ``{placeholders}``
for the few types the two dialects spell differently.

Time is integer epoch seconds UTC everywhere (``ts``, ``day_start``, ``fetched_at``); energy is
integer joules. History tables are keyed on ``(serial, ts)``: the primary key is also the index
every report query walks (SQLite stores them ``WITHOUT ROWID``, i.e. clustered on that key).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Resolution

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_TABLES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "POSTGRES",
    "SQLITE",
    "STATUS_COLUMNS",
    "SYNC_COLUMNS",
    "Dialect",
    "Migration",
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one back end spells the types and operators the shared SQL leaves open."""

    name: str
    bigint: str
    double: str
    boolean: str
    date: str
    #: null-safe "differs from" between two row values
    distinct: str
    #: table option of clustered tables
    clustered: str

    def render(self, sql: str) -> str:
        return sql.format(
            bigint=self.bigint,
            double=self.double,
            boolean=self.boolean,
            date=self.date,
            distinct=self.distinct,
            clustered=self.clustered,
        )


SQLITE = Dialect(
    name="sqlite",
    bigint="INTEGER",
    double="REAL",
    boolean="INTEGER",
    date="TEXT",
    distinct="IS NOT",
    clustered=" WITHOUT ROWID",
)
POSTGRES = Dialect(
    name="postgres",
    bigint="BIGINT",
    double="DOUBLE PRECISION",
    boolean="BOOLEAN",
    date="DATE",
    distinct="IS DISTINCT FROM",
    clustered="",
)

#: Value columns of the history tables as created by step 1 (frozen).
_V1_HISTORY_COLUMNS: tuple[str, ...] = (
    "import_j",
    "export_j",
    "generation_j",
    "generation_negative_j",
    "diverted_h1_j",
    "diverted_h2_j",
    "diverted_h3_j",
    "boosted_h1_j",
    "boosted_h2_j",
    "boosted_h3_j",
    "ct1_positive_j",
    "ct2_positive_j",
    "ct3_positive_j",
    "ct1_negative_j",
    "ct2_negative_j",
    "ct3_negative_j",
    "voltage_v",
    "frequency_hz",
)

#: Value columns of both history tables, in the order rows are built (after serial, ts); a later
#: step that adds a column appends it here.
HISTORY_COLUMNS: tuple[str, ...] = _V1_HISTORY_COLUMNS

HISTORY_TABLES: dict[Resolution, str] = {
    Resolution.MINUTE: "history_minute",
    Resolution.HOUR: "history_hour",
}

#: Columns of ``zappi_status`` after (serial, ts).
STATUS_COLUMNS: tuple[str, ...] = (
    "fetched_at",
    "firmware",
    "mode",
    "charge_status",
    "plug_status",
    "voltage_v",
    "frequency_hz",
    "grid_power_w",
    "generation_power_w",
    "charge_power_w",
    "charge_added_kwh",
    "raw",
)

#: Columns of ``sync_state``, in the order of :class:`SyncState` plus the bookkeeping ones.
SYNC_COLUMNS: tuple[str, ...] = (
    "serial",
    "resolution",
    "day",
    "tz",
    "day_start",
    "fetched_at",
    "records",
    "expected",
    "missing",
    "duplicates_dropped",
    "suspect",
    "final",
    "attempts",
    "error",
    "last_attempt_at",
)


def _history_table(name: str) -> str:
    energy = ",\n".join(
        f"    {col} {{bigint}} NOT NULL DEFAULT 0"
        for col in _V1_HISTORY_COLUMNS
        if col.endswith("_j")
    )
    return (
        f"CREATE TABLE {name} (\n"
        "    serial TEXT NOT NULL,\n"
        "    ts {bigint} NOT NULL,\n"
        f"{energy},\n"
        "    voltage_v {double},\n"
        "    frequency_hz {double},\n"
        "    PRIMARY KEY (serial, ts)\n"
        "){clustered}"
    )


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step: statements run in one transaction with the version bump."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = Migration(
    1,
    "devices, status snapshots, minute/hour history, sync state",
    (
        """CREATE TABLE devices (
    serial TEXT PRIMARY KEY,
    device_type TEXT NOT NULL,
    name TEXT
)""",
        """CREATE TABLE zappi_status (
    serial TEXT NOT NULL,
    ts {bigint} NOT NULL,
    fetched_at {bigint} NOT NULL,
    firmware TEXT,
    mode TEXT,
    charge_status TEXT,
    plug_status TEXT,
    voltage_v {double},
    frequency_hz {double},
    grid_power_w {double},
    generation_power_w {double},
    charge_power_w {double},
    charge_added_kwh {double},
    raw TEXT NOT NULL,
    PRIMARY KEY (serial, ts)
)""",
        _history_table("history_minute"),
        _history_table("history_hour"),
        """CREATE TABLE sync_state (
    serial TEXT NOT NULL,
    resolution TEXT NOT NULL,
    day_start {bigint} NOT NULL,
    day {date} NOT NULL,
    tz TEXT NOT NULL,
    fetched_at {bigint},
    records INTEGER NOT NULL DEFAULT 0,
    expected INTEGER NOT NULL DEFAULT 0,
    missing INTEGER NOT NULL DEFAULT 0,
    duplicates_dropped INTEGER NOT NULL DEFAULT 0,
    suspect INTEGER NOT NULL DEFAULT 0,
    final {boolean} NOT NULL DEFAULT FALSE,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    last_attempt_at {bigint},
    PRIMARY KEY (serial, resolution, day_start)
)""",
    ),
)

_V2 = Migration(
    2,
    "household meter totaliser readings",
    (
        """CREATE TABLE meter_readings (
    meter_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts {bigint} NOT NULL,
    total_j {bigint} NOT NULL,
    source TEXT NOT NULL,
    time_source TEXT NOT NULL DEFAULT 'meter',
    PRIMARY KEY (meter_id, channel, ts)
){clustered}""",
    ),
)

_V3 = Migration(
    3,
    "pacing limits learned per account and server",
    (
        """CREATE TABLE pacing_limits (
    account TEXT NOT NULL,
    server TEXT NOT NULL,
    rate_per_s {double} NOT NULL,
    concurrency INTEGER NOT NULL,
    ceiling_per_s {double},
    latency_s {double},
    updated_at {bigint} NOT NULL,
    PRIMARY KEY (account, server)
)""",
    ),
)

_V4 = Migration(
    4,
    "prices of dynamic tariffs",
    (
        """CREATE TABLE prices (
    tariff TEXT NOT NULL,
    start_ts {bigint} NOT NULL,
    duration_s INTEGER NOT NULL,
    micro_per_kwh {bigint} NOT NULL,
    currency TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (tariff, start_ts, duration_s)
){clustered}""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4)
LATEST_VERSION = MIGRATIONS[-1].version

#: Bookkeeping table of the migration runner; created before any numbered step.
MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at {bigint} NOT NULL
)"""

assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
