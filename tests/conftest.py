"""Shared test fixtures: payload files and an isolated user environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pg_server", "ha_server"]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Read a payload fixture by file name."""

    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config or data, or their credentials."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for var in (
        "ZAPLEDGER_CONFIG",
        "ZAPLEDGER_HUB_SERIAL",
        "ZAPLEDGER_API_KEY",
        "ZAPLEDGER_DIRECTOR_URL",
        "ZAPLEDGER_DB",
        "ZAPLEDGER_TZ",
        "ZAPLEDGER_ZAPPI_SERIAL",
        "ZAPLEDGER_HA_URL",
        "ZAPLEDGER_HA_TOKEN",
        "ZAPLEDGER_MAX_PAYLOAD_BYTES",
        "ZAPLEDGER_MAX_FILE_BYTES",
    ):
        monkeypatch.delenv(var, raising=False)
