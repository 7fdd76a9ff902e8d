"""Opening stores: URLs and their secrets, migrations, SQLite's WAL between processes, crashes."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from zapledger.exceptions import StoreError
from zapledger.models import Device, History, HistoryRecord, MeterReading, Resolution
from zapledger.pacing import ServerLimits
from zapledger.store import (
    SCHEMA_VERSION,
    Store,
    default_db_path,
    default_db_url,
    open_store,
    redact_url,
)
from zapledger.store._base import SqlStore
from zapledger.store._sqlite import SqliteStore, sqlite_path

pytest_plugins = ["pg_server"]

MINUTE, HOUR = Resolution.MINUTE, Resolution.HOUR
T0 = datetime(2024, 1, 15, tzinfo=UTC)
FETCHED = datetime(2024, 1, 16, 6, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/zapledger.sqlite3"
    return cast(str, request.getfixturevalue("pg_url"))


def _open_at(url: str, version: int) -> SqlStore:
    if url.startswith("sqlite"):
        return SqliteStore(url, _schema_version=version)
    from zapledger.store._postgres import PostgresStore

    return PostgresStore(url, _schema_version=version)


def _hours(n: int, start: datetime = T0) -> tuple[HistoryRecord, ...]:
    return tuple(
        HistoryRecord(start + timedelta(hours=i), 3600, import_j=i + 1, diverted_h1_j=2 * i)
        for i in range(n)
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- URLs ---------------------------------------------------------------------------------------


def test_unknown_scheme_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as info:
        open_store("mysql://admin:hunter2@db.example/zap")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(StoreError, match="unknown database URL"):
        open_store("/just/a/path.sqlite3")


def test_unreachable_postgres_is_one_line_without_the_password() -> None:
    url = f"postgresql://zap:hunter2@127.0.0.1:{_closed_port()}/zap?connect_timeout=5"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "hunter2" not in message and "\n" not in message
    assert message.startswith("cannot connect to postgresql://zap:***@127.0.0.1:")


@pytest.mark.postgres
def test_postgres_password_never_shows(pg_url: str) -> None:
    secret_url = pg_url.replace("zapledger@", "zapledger:s3cr%40t@") + "&password=s3cr"
    with open_store(secret_url) as s:  # trust auth ignores the password
        assert "s3cr" not in repr(s) and "s3cr" not in s.url
        assert s.schema_version() == SCHEMA_VERSION


def test_postgres_without_psycopg_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "zapledger.store._postgres", raising=False)
    with pytest.raises(StoreError, match=r"zapledger\[postgres\]"):
        open_store("postgresql://zap@127.0.0.1/zap")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db?sslmode=require&password=pw", "postgresql://u@h/db?sslmode=require&password=***"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("sqlite:////var/lib/z.sqlite3", "sqlite:////var/lib/z.sqlite3"),
    ],
)  # fmt: skip
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/z.sqlite3", "data/z.sqlite3"),
        ("sqlite:////abs/z.sqlite3", "/abs/z.sqlite3"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("SQLITE:///x.db", "x.db"),
    ],
)
def test_sqlite_url_forms(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_bad_sqlite_urls(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="bad SQLite URL"):
        open_store("sqlite:/relative.db")
    with pytest.raises(StoreError, match="cannot open"):
        open_store(f"sqlite:///{tmp_path}")  # a directory
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"cannot open .*not a database"):
        open_store(f"sqlite:///{junk}")


def test_memory_store_works() -> None:
    with open_store("sqlite:///:memory:") as s:
        assert s.upsert_history("S", HOUR, _hours(3)) == 3
        assert s.count_history(None, HOUR) == 3


def test_default_db_url_is_in_the_user_data_dir(tmp_path: Path) -> None:
    # conftest points XDG_DATA_HOME at tmp_path / "xdg-data"
    path = default_db_path()
    assert path == tmp_path / "xdg-data" / "zapledger" / "zapledger.sqlite3"
    assert default_db_url() == f"sqlite:///{path}"
    with open_store(default_db_url()) as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert path.exists()


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    with SqliteStore(f"sqlite:///{tmp_path}/z.sqlite3") as s:
        pragma = s._conn.execute
        assert pragma("PRAGMA journal_mode").fetchone() == ("wal",)
        assert pragma("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert pragma("PRAGMA busy_timeout").fetchone() == (30000,)


# --- migrations ---------------------------------------------------------------------------------


def test_upgrade_from_version_1_keeps_data(store_url: str) -> None:
    with _open_at(store_url, 1) as old:
        assert old.schema_version() == 1
        old.upsert_device("S", "zappi", "Drive")
        old.write_day("S", HOUR, date(2024, 1, 15), "UTC", History("S", HOUR, _hours(24)),
                      expected=24, final=True, fetched_at=FETCHED)  # fmt: skip
        with pytest.raises(StoreError):  # meter_readings arrives with version 2
            old.upsert_meter_readings([MeterReading("p1", "pv", T0, 1, "csv")])
    with open_store(store_url) as new:
        assert new.schema_version() == SCHEMA_VERSION == 4
        assert new.devices() == [Device("S", "zappi", "Drive")]
        assert new.history("S", HOUR, T0, T0 + timedelta(days=1)) == list(_hours(24))
        assert new.last_synced_day("S", HOUR) == date(2024, 1, 15)
        assert new.upsert_meter_readings([MeterReading("p1", "pv", T0, 1, "csv")]) == 1
    with open_store(store_url) as again:  # reopening an up-to-date database changes nothing
        assert again.schema_version() == SCHEMA_VERSION


def test_upgrade_from_version_2_adds_the_pacing_limits(store_url: str) -> None:
    limits = ServerLimits(2.7, 3, 3.1, 0.31, datetime(2024, 1, 16, 6, 30, 5, tzinfo=UTC))
    with _open_at(store_url, 2) as old:
        old.upsert_meter_readings([MeterReading("p1", "pv", T0, 1, "csv")])
        with pytest.raises(StoreError):  # pacing_limits arrives with version 3
            old.save_pacing_limits("10012345", {"s18.myenergi.net": limits})
    with open_store(store_url) as new:
        assert new.schema_version() == SCHEMA_VERSION >= 3
        assert new.meter_readings("p1", "pv", T0, T0 + timedelta(1))[0].total_j == 1
        assert new.pacing_limits("10012345") == {}
        new.save_pacing_limits("10012345", {"s18.myenergi.net": limits, "director": limits})
        faster = replace(limits, rate_per_s=4.5, ceiling_per_s=None)
        new.save_pacing_limits("10012345", {"s18.myenergi.net": faster})
        new.save_pacing_limits("10099999", {})
    with open_store(store_url) as again:
        kept = again.pacing_limits("10012345")
        assert kept == {"director": limits, "s18.myenergi.net": faster}
        assert again.pacing_limits("10099999") == {}


def test_a_newer_schema_is_refused(store_url: str) -> None:
    with _open_at(store_url, SCHEMA_VERSION) as s:
        s._execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
            (99, "from the future", 0),
        )
    with pytest.raises(StoreError, match="schema version 99, newer"):
        open_store(store_url)


# --- processes ----------------------------------------------------------------------------------

_WRITER = """
import os, sys, time
from datetime import UTC, date, datetime, timedelta
from zapledger.models import History, HistoryRecord, Resolution
from zapledger.pacing import ServerLimits
from zapledger.store import open_store

url, serial, days, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = datetime(2024, 1, 1, tzinfo=UTC)
with open_store(url) as store:
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:  # the reader is reading
        time.sleep(0.01)
    for d in range(days):
        start = t0 + timedelta(days=d)
        recs = tuple(
            HistoryRecord(start + timedelta(minutes=i), 60, import_j=i, diverted_h1_j=1)
            for i in range(1440)
        )
        store.write_day(serial, Resolution.MINUTE, date(2024, 1, 1) + timedelta(days=d), "UTC",
                        History(serial, Resolution.MINUTE, recs), expected=1440, final=True,
                        fetched_at=datetime.now(UTC))
print("wrote", days)
"""

_READER = """
import pathlib, sys, time
from datetime import UTC, date, datetime, timedelta
from zapledger.models import Resolution
from zapledger.store import open_store

url, total, go = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
t0 = datetime(2024, 1, 1, tzinfo=UTC)
queries = 0
deadline = time.monotonic() + 120
with open_store(url) as store:
    while time.monotonic() < deadline:
        rows = list(store.iter_energy(None, Resolution.MINUTE, t0, t0 + timedelta(days=60)))
        seen = sum(r.records for r in rows)
        # one consistent snapshot, and days become visible whole (one transaction each)
        assert seen % 1440 == 0 and sum(r.energy.diverted_j for r in rows) == seen, seen
        store.sync_states("A", Resolution.MINUTE, date(2024, 1, 1), date(2024, 3, 1))
        store.history("B", Resolution.MINUTE, t0, t0 + timedelta(days=1))
        n = store.count_history(None, Resolution.MINUTE)
        queries += 4
        go.touch()
        if n == total:
            break
    else:
        sys.exit("reader gave up waiting for the writers")
print("read", queries)
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_writers_and_a_reader_in_separate_processes_never_see_locks(tmp_path: Path) -> None:
    """Fresh file: the processes also race to create the schema."""
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    go = str(tmp_path / "reader-started")
    days = 25
    procs = [
        _python(_WRITER, url, "A", str(days), go),
        _python(_WRITER, url, "B", str(days), go),
        _python(_READER, url, str(2 * days * 1440), go),
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
        assert "locked" not in err and "OperationalError" not in err
    assert [r[1].split()[0] for r in results] == ["wrote", "wrote", "read"]
    assert int(results[2][1].split()[1]) > 4  # it really read while they wrote
    with open_store(url) as s:
        assert s.count_history(None, MINUTE) == 2 * days * 1440
        assert s.last_synced_day("A", MINUTE) == date(2024, 1, days)


_CRASH = """
import os, signal, sys
from datetime import UTC, date, datetime, timedelta
from zapledger.models import History, HistoryRecord, Resolution
from zapledger.pacing import ServerLimits
from zapledger.store import open_store
from zapledger.store._base import SqlStore

url = sys.argv[1]
t0 = datetime(2024, 1, 1, tzinfo=UTC)

def day(store, d):
    start = t0 + timedelta(days=d)
    recs = tuple(HistoryRecord(start + timedelta(minutes=i), 60, import_j=1) for i in range(1440))
    store.write_day("S", Resolution.MINUTE, date(2024, 1, 1 + d), "UTC",
                    History("S", Resolution.MINUTE, recs), expected=1440, final=True,
                    fetched_at=t0 + timedelta(days=3))

store = open_store(url)
day(store, 0)
def die(self, params):  # the records of day 2 are written, its state not yet: pull the plug
    os.kill(os.getpid(), signal.SIGKILL)
SqlStore._write_sync_state = die
day(store, 1)
print("survived")
"""


def test_a_killed_writer_never_leaves_half_a_day(store_url: str) -> None:
    open_store(store_url).close()  # schema in place before the crash
    proc = _python(_CRASH, store_url)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -9, err
    assert "survived" not in out
    with open_store(store_url) as s:
        assert s.count_history("S", MINUTE) == 1440
        states = s.sync_states("S", MINUTE, date(2024, 1, 1), date(2024, 1, 2))
        assert list(states) == [date(2024, 1, 1)]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path}/z.sqlite3") as s:
        yield s


def test_a_store_can_be_used_from_another_thread(sqlite_store: Store) -> None:
    import threading

    errors: list[BaseException] = []

    def work() -> None:
        try:
            sqlite_store.upsert_history("S", HOUR, _hours(5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert sqlite_store.count_history("S", HOUR) == 5


def test_sqlite_bucket_table_and_plain_group_by_agree(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zapledger.store import _sqlite

    start = T0 + timedelta(minutes=7)
    recs = tuple(
        HistoryRecord(T0 + timedelta(minutes=i), 60, import_j=i, export_j=i % 5, boosted_h2_j=i % 3)
        for i in range(0, 3000, 2)
    )
    sqlite_store.upsert_history("S", MINUTE, recs)
    sqlite_store.upsert_history("T", MINUTE, recs[:100])
    args = (MINUTE, start, T0 + timedelta(minutes=2999))
    fast = [
        list(sqlite_store.iter_energy(s, *args, bucket_s=b))
        for s in ("S", None)
        for b in (900, 3600)
    ]
    monkeypatch.setattr(_sqlite, "_MAX_BUCKET_ROWS", 0)
    plain = [
        list(sqlite_store.iter_energy(s, *args, bucket_s=b))
        for s in ("S", None)
        for b in (900, 3600)
    ]
    assert fast == plain
    assert fast[1][0].start == T0 and fast[1][0].records == 26  # minutes 8..58, even ones
    assert sum(r.energy.import_j for r in fast[1]) == sum(r.import_j for r in recs[4:])


def test_combine_devices_takes_site_values_once() -> None:
    from zapledger.store._combine import combine_devices, merge_adjacent

    a = [(0, 60, 10, 1, 5, 0, 3, 1), (3600, 60, 20, 2, 6, 0, 0, 0)]
    b = [(0, 60, 11, 1, 5, 0, 4, 0), (7200, 60, 30, 3, 7, 1, 1, 1)]
    no_ct = [(0, 60, 0, 0, 0, 0, 9, 9), (3600, 60, 0, 0, 0, 0, 1, 0)]
    combined = combine_devices([("3", b), ("2", a), ("1", no_ct)])
    assert combined == [
        (0, 180, 10, 1, 5, 0, 16, 10),  # site from "2": lowest serial with site energy
        (3600, 120, 20, 2, 6, 0, 1, 0),
        (7200, 60, 30, 3, 7, 1, 1, 1),
    ]
    assert combine_devices([("x", a)]) == a
    assert combine_devices([("1", no_ct[:1]), ("2", no_ct[:1])]) == [(0, 120, 0, 0, 0, 0, 18, 18)]
    assert merge_adjacent(
        [(0, 1, 1, 0, 0, 0, 0, 0), (0, 1, 2, 0, 0, 0, 0, 0), (60, 1, 1, 0, 0, 0, 0, 0)]
    ) == [
        (0, 2, 3, 0, 0, 0, 0, 0),
        (60, 1, 1, 0, 0, 0, 0, 0),
    ]


def test_url_helpers_on_odd_input() -> None:
    from zapledger.store._postgres import normalise_url

    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgres://u@h/db"
    assert redact_url("postgresql://u:pw@[::1/db") == "postgresql://u:***@[::1/db"  # unparseable
    with pytest.raises(StoreError, match="not a SQLite URL"):
        sqlite_path("postgresql://h/db")
