"""Where zapledger keeps its data: one schema, SQLite by default, PostgreSQL on request.

``open_store("sqlite:///data.sqlite3")`` or ``open_store("postgresql://user@host:5432/db")``
returns a :class:`Store` with its schema migrated to the latest version. URLs follow SQLAlchemy:
``sqlite:///relative/path``, ``sqlite:////absolute/path``, ``sqlite:///:memory:``. PostgreSQL
needs the ``zapledger[postgres]`` extra (psycopg 3), imported only when such a URL is opened.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from ..exceptions import StoreError
from ..redact import redact, register_secret, url_secrets
from ._api import Store, SyncState
from ._errors import redact_url
from ._schema import LATEST_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "SyncState",
    "default_db_path",
    "default_db_url",
    "open_store",
    "redact_url",
]

#: The schema version this zapledger creates and upgrades to.
SCHEMA_VERSION = LATEST_VERSION

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")


def default_db_path() -> Path:
    """``zapledger.sqlite3`` in the user's data directory (e.g. ``~/.local/share/zapledger``)."""
    return platformdirs.user_data_path("zapledger", appauthor=False) / "zapledger.sqlite3"


def default_db_url() -> str:
    """The SQLite URL of :func:`default_db_path` (absolute, so ``sqlite:////…`` on POSIX)."""
    return f"sqlite:///{default_db_path().as_posix()}"


def open_store(url: str, *, read_only: bool = False) -> Store:
    """Open (creating and migrating as needed) the store a URL names.

    ``read_only`` opens an existing SQLite file without writing anything (reading commands; works
    in a read-only directory) and refuses a schema that would need migrating. Raises StoreError,
    with every password redacted, for an unknown scheme, a database that cannot be reached or
    opened, or one whose schema is newer than this zapledger.
    """
    secrets = url_secrets(url)
    for secret in secrets:
        register_secret(secret)
    try:
        return _open(url, read_only)
    except StoreError as exc:
        raise StoreError(redact(str(exc), secrets)) from None


def _open(url: str, read_only: bool) -> Store:
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from ._sqlite import SqliteStore

        return SqliteStore(url, read_only=read_only)
    if scheme in _POSTGRES_SCHEMES:
        try:
            from ._postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "PostgreSQL needs psycopg 3: pip install 'zapledger[postgres]'"
            ) from None
        return PostgresStore(url)
    raise StoreError(
        f"unknown database URL {redact_url(url)!r}: use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DATABASE"
    )
