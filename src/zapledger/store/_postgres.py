"""The PostgreSQL back end (psycopg 3): the same schema and SQL as SQLite.

Only imported for ``postgresql://`` URLs, so SQLite users never need psycopg. History batches go
through ``COPY`` into a session-local staging table and one ``INSERT … SELECT … ON CONFLICT``:
one round trip for the rows instead of one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..exceptions import StoreError
from ..redact import normalise_userinfo
from . import _sql
from ._base import SqlStore
from ._convert import Row
from ._errors import one_line, redact_url, url_secrets
from ._schema import HISTORY_COLUMNS, LATEST_VERSION, POSTGRES, Dialect

__all__ = ["CONNECT_TIMEOUT_S", "PostgresStore", "normalise_url"]

CONNECT_TIMEOUT_S = 10
#: Key of the advisory lock that serialises migrations between processes.
_MIGRATION_LOCK = 0x7A61706C  # "zapl"
_SCHEMES = ("postgresql+psycopg://", "postgres+psycopg://")


def normalise_url(url: str) -> str:
    """A libpq URI: SQLAlchemy-style ``postgresql+psycopg://`` becomes ``postgresql://``."""
    for scheme in _SCHEMES:
        if url.lower().startswith(scheme):
            return "postgresql://" + url[len(scheme) :]
    return url


@cache
def _pg(sql: str) -> str:
    """Shared ``?`` placeholders to psycopg's ``%s`` (and literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(SqlStore):
    """A Store in a PostgreSQL database (its tables in the connection's ``search_path``)."""

    dialect: ClassVar[Dialect] = POSTGRES
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (psycopg.Error,)

    def __init__(self, url: str, *, _schema_version: int = LATEST_VERSION) -> None:
        secrets = url_secrets(url)
        # A password holding '#', '/', '?' or '@' is encoded, so libpq never misreads (and then
        # echoes) a piece of it as host, port or database.
        url = normalise_userinfo(normalise_url(url))
        secrets += url_secrets(url)
        super().__init__(redact_url(url), secrets)
        try:
            params = conninfo_to_dict(url)
            kwargs: dict[str, Any] = {"autocommit": True}
            if "connect_timeout" not in params:
                kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
            if "application_name" not in params:
                kwargs["application_name"] = "zapledger"
            self._conn = psycopg.connect(url, **kwargs)
        except (psycopg.Error, ValueError) as exc:
            raise StoreError(f"cannot connect to {self.url}: {one_line(exc, secrets)}") from None
        try:
            self._tune_session()
            self._migrate(_schema_version)
        except psycopg.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open {self.url}: {one_line(exc, secrets)}") from None
        except BaseException:
            self._conn.close()
            raise

    def _tune_session(self) -> None:
        """Session settings for report queries: their grouping estimates are poor (an expression
        per bucket), which makes JIT compile for longer than the query runs and sorts spill to
        disk at the default 4 MB. Only this connection is affected."""
        if self._conn.info.server_version >= 110000:
            self._conn.execute("SET jit = off")
        self._conn.execute("SET work_mem = '64MB'")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(_pg(sql), tuple(params)).rowcount

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        with self._conn.cursor() as cur:
            cur.executemany(_pg(sql), rows)
            return max(cur.rowcount, 0)

    def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(_pg(sql), tuple(params)).fetchall()

    def _close_connection(self) -> None:
        self._conn.close()

    def _table_exists(self, name: str) -> bool:
        return bool(self._fetchall("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0])

    def _lock_schema(self) -> None:
        self._fetchall("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _write_history(self, table: str, rows: Iterator[Row]) -> int:
        # one INSERT may touch a key only once: the last record of a timestamp wins
        unique = {r[1]: r for r in rows}.values()
        stage = f"stage_{table}"
        cols = ", ".join(("serial", "ts", *HISTORY_COLUMNS))
        with self._conn.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
            )
            with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
                for row in unique:
                    copy.write_row(row)
            cur.execute(_pg(_sql.history_upsert(self.dialect, table, source=stage)), ())
            return max(cur.rowcount, 0)
