"""Settings: credentials and defaults from the config file, overridden by environment variables.

The config file lives in the user config dir (``zapledger/config.toml``) and is written with mode
0600 because it holds the API key. The key is wrapped in :class:`Secret` so it can't leak through a
repr, a log line or a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .exceptions import ConfigError
from .redact import normalise_userinfo, redact, register_secret

__all__ = [
    "DEFAULT_DIRECTOR_URL",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Secret",
    "Settings",
    "config_path",
    "config_table",
    "load_settings",
    "new_run",
    "save_settings",
    "validate_director_url",
    "validate_serial",
]

DEFAULT_DIRECTOR_URL = "https://director.myenergi.net"
#: Default bounds of input files: a saved JSON payload (``decode``) and a meter file
#: (``meter import``: DSMR captures, CSV). Beyond them reading stops with exit 6.
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
_ENV = {
    "hub_serial": "ZAPLEDGER_HUB_SERIAL",
    "api_key": "ZAPLEDGER_API_KEY",
    "director_url": "ZAPLEDGER_DIRECTOR_URL",
    "db_url": "ZAPLEDGER_DB",
    "timezone": "ZAPLEDGER_TZ",
    "zappi_serial": "ZAPLEDGER_ZAPPI_SERIAL",
    "max_payload_bytes": "ZAPLEDGER_MAX_PAYLOAD_BYTES",
    "max_file_bytes": "ZAPLEDGER_MAX_FILE_BYTES",
}
#: Settings that are byte counts: (smallest, largest) accepted.
_BYTE_LIMITS = {
    "max_payload_bytes": (1024, 1024**3),
    "max_file_bytes": (1024, 1024**4),
}
_SERIAL = re.compile(r"[0-9]{1,16}")
_MAX_TEXT_CHARS = 4096


class Secret:
    """A string that never shows itself in ``repr``/``str``; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything zapledger needs to reach the cloud and the database."""

    hub_serial: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    director_url: str = DEFAULT_DIRECTOR_URL
    db_url: str | None = None
    timezone: str | None = None
    zappi_serial: str | None = None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def require_credentials(self) -> tuple[str, Secret]:
        """Hub serial and key, or a ConfigError that says how to provide them."""
        if not self.hub_serial or not self.api_key:
            raise ConfigError(
                "no credentials: run 'zapledger login' or set ZAPLEDGER_HUB_SERIAL and "
                "ZAPLEDGER_API_KEY"
            )
        return self.hub_serial, self.api_key


def config_path() -> Path:
    """``$ZAPLEDGER_CONFIG`` or ``<user config dir>/zapledger/config.toml``."""
    explicit = os.environ.get("ZAPLEDGER_CONFIG")
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_path

    return user_config_path("zapledger") / "config.toml"


def _read_file(path: Path) -> Mapping[str, object]:
    try:
        with path.open("rb") as fh:
            data = fh.read(1024 * 1024 + 1)
            mode = os.fstat(fh.fileno()).st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(data) > 1024 * 1024:
        raise ConfigError(f"config file {path} is over 1 MiB: not a zapledger config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read config file {path}: not UTF-8 text (byte {exc.start})"
        ) from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read config file {path}: {redact(str(exc))}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _warn_once(
            f"warning: {path} can be read by other users (it holds your API key): chmod 600 {path}"
        )
    return values


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """One line on stderr per run (settings are loaded several times by one command); the next
    run warns again until it is fixed."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(message, file=sys.stderr)


def new_run() -> None:
    """Forget the warnings given: a new command is running (the CLI calls this per invocation)."""
    _WARNED.clear()


def validate_serial(value: str, what: str = "the hub serial") -> str:
    """ASCII digits only: ``str.isdigit`` would let fullwidth and superscript digits through."""
    text = value.strip()
    if not _SERIAL.fullmatch(text):
        raise ConfigError(f"{what} should be digits 0-9 only (as printed on the label)")
    return text


def validate_director_url(value: str) -> str:
    """An http(s) URL with a host and, if given, a port in 1..65535."""
    value = normalise_userinfo(value.strip())  # a '#' or '/' in a password is not a path
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"director URL {redact(value)!r} is not a URL (a port must be 1-65535)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ConfigError(f"director URL {redact(value)!r} should be http(s)://host[:port]")
    return value


def _text(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"config value {name!r} should be a string, not {_type(value)}")
    text = str(value)
    if not text.strip():
        raise ConfigError(f"config value {name!r} is empty")
    if "\x00" in text:
        raise ConfigError(f"config value {name!r} holds a NUL character")
    if len(text) > _MAX_TEXT_CHARS:
        raise ConfigError(f"config value {name!r} is longer than {_MAX_TEXT_CHARS} characters")
    return text


def _type(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__
    )


def _byte_limit(name: str, value: object) -> int:
    low, high = _BYTE_LIMITS[name]
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config value {name!r} should be a whole number of bytes")
    if not low <= value <= high:
        raise ConfigError(f"config value {name!r} should be between {low:,} and {high:,} bytes")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"unknown time zone {value!r} (want an IANA name like Europe/London)"
        ) from None
    return value


def _check_keys(data: Mapping[str, object], path: Path) -> None:
    for key in data:
        if key not in _ENV and key not in OWN_TABLES:
            near = difflib.get_close_matches(key, list(_ENV), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"unknown setting {redact(key)[:60]!r} in {path}{hint}; known: {', '.join(_ENV)}"
            )


#: Tables of the config file that their own modules parse (``zapledger.tariffs``).
OWN_TABLES = ("tariffs",)


def config_table(name: str, path: Path | None = None) -> Mapping[str, object] | None:
    """The raw table ``[name]`` of the config file, for the module that owns it; None if absent."""
    table = _read_file(path or config_path()).get(name)
    if table is not None and not isinstance(table, Mapping):
        raise ConfigError(f"[{name}] in the config file should be a table")
    return table


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file, then the environment (which wins), each typed and
    range-checked here: a wrong setting is a ConfigError naming it, never a crash later."""
    env = os.environ if environ is None else environ
    file = path or config_path()
    data: dict[str, object] = dict(_read_file(file))
    _check_keys(data, file)
    for name, var in _ENV.items():
        if env.get(var):
            data[name] = env[var]
    values: dict[str, object] = {}
    for name in _ENV:
        value = data.get(name)
        if value is None:
            continue
        if name in _BYTE_LIMITS:
            values[name] = _byte_limit(name, value)
            continue
        text = _text(name, value)
        if name == "api_key":
            register_secret(text)
            values[name] = Secret(text)
        elif name in ("hub_serial", "zappi_serial"):
            values[name] = validate_serial(
                text, "the hub serial" if name == "hub_serial" else "the zappi serial"
            )
        elif name == "director_url":
            values[name] = validate_director_url(text)
        elif name == "timezone":
            values[name] = _timezone(text)
        else:
            values[name] = text
    return replace(Settings(), **values)  # type: ignore[arg-type]


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` and its missing parents with mode 0700, whatever the umask."""
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o700)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings file atomically with mode 0600 (it holds the API key).

    The temporary file is created exclusively and never through a link (``O_EXCL|O_NOFOLLOW``):
    a planted ``config.toml.tmp`` symlink cannot redirect the key elsewhere.
    """
    target = path or config_path()
    make_private_dir(target.parent)
    lines = ["# zapledger settings; this file holds your API key: keep it private.\n"]
    for name in _ENV:
        value = getattr(settings, name)
        if name == "director_url" and value == DEFAULT_DIRECTOR_URL:
            continue
        if name in _BYTE_LIMITS:
            if value != getattr(Settings, name):
                lines.append(f"{name} = {int(value)}\n")
            continue
        if value is None:
            continue
        text = value.reveal() if isinstance(value, Secret) else str(value)
        lines.append(f"{name} = {_toml_string(text)}\n")
    tmp = target.with_name(target.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()  # a stale or planted file: removed, never written through
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write {tmp}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
