"""A pytest plugin: one real PostgreSQL server per test session, a fresh schema per test.

The server is built from the machine's own binaries (``initdb``/``pg_ctl`` on the PATH, or the
newest ``/usr/lib/postgresql/*/bin``) in a temporary directory, listens on a free loopback port
with trust authentication and no fsync, and is stopped at the end. As root the binaries run as the
``postgres`` user (they refuse to run as root). Missing binaries FAIL the tests that need them:
PostgreSQL support is never silently untested. Enable with ``pytest_plugins = ["pg_server"]``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

__all__ = ["PgServer", "pg_server", "pg_url"]

_USER = "zapledger"
#: The database that holds one schema per test.
_TEST_DB = "zapledger_tests"
_SYSTEM_USER = "postgres"
_counter = itertools.count()


def _find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl; fails the test run when there is none."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
        "(`make system-deps` does it on Debian) to run the PostgreSQL tests",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PgServer:
    """A running test server: connect as ``zapledger`` without a password."""

    host: str
    port: int
    user: str

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL (slower than :meth:`create_schema`: a file copy)."""
        name = f"test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def create_schema(self) -> str:
        """A new empty schema in the shared test database; a URL whose search_path is it."""
        name = f"test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(_TEST_DB), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url(_TEST_DB)}?options=-csearch_path%3D{name}"

    def drop(self, url: str) -> None:
        """Remove what :meth:`create_schema` or :meth:`create_database` made."""
        path, _, query = url.partition("?")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if query:
                schema = query.rsplit("%3D", 1)[1]
                with psycopg.connect(self.url(_TEST_DB), autocommit=True) as test_db:
                    test_db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            else:
                conn.execute(f'DROP DATABASE IF EXISTS "{path.rsplit("/", 1)[1]}" WITH (FORCE)')


class _Runner:
    """Runs server binaries as an unprivileged user when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), None
        )
        if self.as_root:
            if self.runuser is None:
                pytest.fail("running as root needs `runuser` to start PostgreSQL", pytrace=False)
            try:
                pwd.getpwnam(_SYSTEM_USER)
            except KeyError:
                pytest.fail(
                    f"running as root needs the system user {_SYSTEM_USER!r} to run PostgreSQL "
                    "(PostgreSQL refuses to run as root)",
                    pytrace=False,
                )

    def run(self, *args: str, log: Path | None = None) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            cmd = [str(self.runuser), "-u", _SYSTEM_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            pytest.fail(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{tail}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Start the session's PostgreSQL server; stop it and remove its files at the end."""
    runner = _Runner(_find_bin_dir())
    # not under pytest's tmp dir: that is private to the current user (0700)
    base = Path(tempfile.mkdtemp(prefix="zapledger-pg-"))
    if runner.as_root:
        shutil.chown(base, user=_SYSTEM_USER)
    data, log = base / "data", base / "server.log"
    started = False
    try:
        runner.run(
            "initdb", "-D", str(data), "-A", "trust", "-U", _USER, "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):  # a free port can be taken before the server binds it
            port = _free_port()
            options = (
                f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
            )
            start = ("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options)
            with contextlib.suppress(pytest.fail.Exception) if attempt < 2 else nullcontext():
                runner.run(*start, "start", log=log)
                started = True
                break
        server = PgServer("127.0.0.1", port, _USER)
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{_TEST_DB}"')
        yield server
    finally:
        if started:
            runner.run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a fresh, empty schema (the connection's search_path) on the session's server.

    A schema instead of a database: CREATE DATABASE copies files and costs ~0.5 s a test.
    """
    url = pg_server.create_schema()
    yield url
    pg_server.drop(url)
