"""Shared plumbing of the CLI commands: global options, consoles, settings, client and store."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..client import Client
    from ..config import Settings
    from ..store import Store

T = TypeVar("T")


@dataclass
class _State:
    """Global options of one invocation."""

    verbose: bool = False
    db_url: str | None = None

    def console(self) -> Console:
        from rich.console import Console

        return Console(highlight=False)

    def err_console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False)


state = _State()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous command."""
    import asyncio

    return asyncio.run(coro)


def settings() -> Settings:
    from ..config import load_settings

    return load_settings()


#: Extra keyword arguments for every Client the CLI makes (tests shorten the retries).
CLIENT_OPTIONS: dict[str, Any] = {}


def make_client(cfg: Settings, **options: Any) -> Client:
    """A client for the configured hub; ConfigError when credentials are missing."""
    from ..client import Client

    serial, key = cfg.require_credentials()
    return Client(serial, key, director_url=cfg.director_url, **(CLIENT_OPTIONS | options))


def db_url(cfg: Settings | None = None) -> str:
    """``--db`` / ``ZAPLEDGER_DB`` / config, else the default SQLite file in the user data dir."""
    from ..store import default_db_url

    if state.db_url:
        return state.db_url
    cfg = cfg or settings()
    return cfg.db_url or default_db_url()


def open_store(cfg: Settings | None = None, *, read_only: bool = False) -> Store:
    """The configured store; ``read_only`` for commands that only read (SQLite ``mode=ro``)."""
    from ..store import open_store as _open

    return _open(db_url(cfg), read_only=read_only)


def timezone_name(tz: str | None, cfg: Settings | None = None) -> str:
    """``--tz``, else the configured zone, else the system's local zone, else UTC."""
    if tz:
        name = tz
    else:
        cfg = cfg or settings()
        name = cfg.timezone or _system_zone()
    from ..localtime import parse_tz

    parse_tz(name)  # raises ConfigError for an unknown zone
    return name


def _system_zone() -> str:
    import os
    from pathlib import Path

    env = os.environ.get("TZ")
    if env and "/" in env:
        return env.lstrip(":")
    try:
        target = Path("/etc/localtime").resolve()
        parts = target.parts
        if "zoneinfo" in parts:
            return "/".join(parts[parts.index("zoneinfo") + 1 :])
    except OSError:  # pragma: no cover - no /etc/localtime
        pass
    return "UTC"


def parse_day(value: str, option: str = "DATE") -> date:
    """A YYYY-MM-DD day within the sane range of :mod:`zapledger.localtime` (usage error else)."""
    from ..localtime import check_day

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value[:40]!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None
    try:
        return check_day(day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def optional_day(value: str | None, option: str) -> date | None:
    """A ``--from``/``--to`` value: None when not given (the library fills open ends in)."""
    return None if value is None else parse_day(value, option)


def from_option(help_text: str = "First local day (YYYY-MM-DD).") -> Any:
    """The ``--from`` option of every command that takes a range of local days."""
    return typer.Option(None, "--from", metavar="DATE", help=help_text)


def to_option(help_text: str = "Last local day, inclusive (default: today).") -> Any:
    """The ``--to`` option of every command that takes a range of local days."""
    return typer.Option(None, "--to", metavar="DATE", help=help_text)


#: Old spellings of the range flags, still understood: a hidden alias with a one-line note.
DEPRECATED_FLAGS = {"--since": "--from", "--until": "--to"}


def rewrite_deprecated(args: list[str], warn: Any) -> list[str]:
    """``--since``/``--until`` become ``--from``/``--to``; ``warn`` gets one note per flag."""
    out: list[str] = []
    told: set[str] = set()
    for arg in args:
        if arg == "--":
            out.extend(args[len(out) :])
            break
        name, eq, value = arg.partition("=")
        new = DEPRECATED_FLAGS.get(name)
        if new is None:
            out.append(arg)
            continue
        if name not in told:
            warn(f"note: {name} is deprecated, use {new}")
            told.add(name)
        out.append(new + eq + value)
    return out


def kwh(energy_j: int | float) -> str:
    """Joules shown as kWh with three decimals (the display edge)."""
    from ..models import joules_to_kwh

    return f"{joules_to_kwh(energy_j):.3f}"
