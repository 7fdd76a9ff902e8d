"""Settings: credentials and defaults from the config file, overridden by environment variables.

The config file lives in the user config dir (``zapledger/config.toml``) and is written with mode
0600 because it holds the API key. The key is wrapped in :class:`Secret` so it can't leak through a
repr, a log line or a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .exceptions import ConfigError

__all__ = [
    "DEFAULT_DIRECTOR_URL",
    "Secret",
    "Settings",
    "config_path",
    "load_settings",
    "save_settings",
]

DEFAULT_DIRECTOR_URL = "https://director.myenergi.net"
_ENV = {
    "hub_serial": "ZAPLEDGER_HUB_SERIAL",
    "api_key": "ZAPLEDGER_API_KEY",
    "director_url": "ZAPLEDGER_DIRECTOR_URL",
    "db_url": "ZAPLEDGER_DB",
    "timezone": "ZAPLEDGER_TZ",
    "zappi_serial": "ZAPLEDGER_ZAPPI_SERIAL",
}


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
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file, then the environment (which wins)."""
    env = os.environ if environ is None else environ
    data = dict(_read_file(path or config_path()))
    for name, var in _ENV.items():
        if env.get(var):
            data[name] = env[var]
    values: dict[str, object] = {}
    for name in _ENV:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str | int):
            raise ConfigError(f"config value {name!r} should be a string")
        values[name] = Secret(str(value)) if name == "api_key" else str(value)
    serial = values.get("hub_serial")
    if isinstance(serial, str) and not serial.isdigit():
        raise ConfigError("the hub serial should be digits only (as printed on the hub)")
    return replace(Settings(), **values)  # type: ignore[arg-type]


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings file atomically with mode 0600 (it holds the API key)."""
    target = path or config_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# zapledger settings; this file holds your API key: keep it private.\n"]
    for name in _ENV:
        value = getattr(settings, name)
        if name == "director_url" and value == DEFAULT_DIRECTOR_URL:
            continue
        if value is None:
            continue
        text = value.reveal() if isinstance(value, Secret) else str(value)
        lines.append(f"{name} = {_toml_string(text)}\n")
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return target
