"""Settings: file, environment overrides, 0600 file mode, and a key that never shows."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zapledger.config import (
    DEFAULT_DIRECTOR_URL,
    Secret,
    Settings,
    config_path,
    load_settings,
    save_settings,
)
from zapledger.exceptions import ConfigError

KEY = "sk-very-secret-key-123"


def test_saved_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    settings = Settings(hub_serial="10088888", api_key=Secret(KEY), timezone="Europe/London")
    save_settings(settings, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_settings(path, environ={})
    assert loaded.hub_serial == "10088888"
    assert loaded.api_key == Secret(KEY)
    assert loaded.timezone == "Europe/London"
    assert loaded.director_url == DEFAULT_DIRECTOR_URL


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_settings(Settings(hub_serial="1", api_key=Secret("file-key")), path)
    env = {
        "ZAPLEDGER_HUB_SERIAL": "2",
        "ZAPLEDGER_API_KEY": "env-key",
        "ZAPLEDGER_DIRECTOR_URL": "http://127.0.0.1:9",
        "ZAPLEDGER_DB": "sqlite:///x.db",
    }
    loaded = load_settings(path, environ=env)
    assert loaded.hub_serial == "2"
    assert loaded.api_key is not None and loaded.api_key.reveal() == "env-key"
    assert loaded.director_url == "http://127.0.0.1:9"
    assert loaded.db_url == "sqlite:///x.db"


def test_key_never_in_repr() -> None:
    s = Settings(hub_serial="1", api_key=Secret(KEY))
    assert KEY not in repr(s)
    assert KEY not in str(s.api_key)
    assert KEY not in repr(s.api_key)


def test_missing_credentials_explain_how(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="zapledger login"):
        load_settings(tmp_path / "none.toml", environ={}).require_credentials()


def test_serial_must_be_digits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digits"):
        load_settings(tmp_path / "none.toml", environ={"ZAPLEDGER_HUB_SERIAL": "abc"})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("hub_serial = \n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(bad, environ={})


def test_wrong_value_type_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("hub_serial = [1]\n")
    with pytest.raises(ConfigError, match="should be a string"):
        load_settings(bad, environ={})


def test_config_path_follows_xdg_and_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_path() == tmp_path / "xdg-config" / "zapledger" / "config.toml"
    monkeypatch.setenv("ZAPLEDGER_CONFIG", str(tmp_path / "x.toml"))
    assert config_path() == tmp_path / "x.toml"


def test_odd_characters_survive_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    key = 'a"b\\c\x01d'
    save_settings(Settings(hub_serial="1", api_key=Secret(key)), path)
    loaded = load_settings(path, environ={})
    assert loaded.api_key is not None and loaded.api_key.reveal() == key


def test_secret_behaves_as_a_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert not Secret("")
