"""The foundation commands end to end against the simulator: status, history, control, login."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from zapledger.cli import main
from zapledger.simulator import Simulator

HUB = "10088888"
KEY = "cli-test-key-5150"
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(seed=3, hub_serial=HUB, api_key=KEY, now=NOW) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    return sim


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["serial"] == env.household.zappi_serials[0]
    assert data["timestamp"].startswith("2024-03-31T1")
    assert 180 < data["voltage_v"] < 280


def test_status_panel(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert f"zappi {env.household.zappi_serials[0]}" in out
    assert "Mode" in out


def test_history_spring_forward_day_has_23_hours(
    env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "history", "2024-03-31", "--tz", "Europe/London", "--json")
    assert code == 0, err
    assert len(json.loads(out)) <= 23


def test_history_csv_of_a_settled_day(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "2024-03-30", "--tz", "UTC", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 24
    assert {"timestamp", "import_j", "export_j", "diverted_j", "voltage_v"} <= set(rows[0])


def test_history_table_with_totals(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "2024-03-29", "--to", "2024-03-30", "--tz", "UTC")
    assert code == 0
    assert "Total" in out


def test_history_rejects_reversed_range(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "history", "2024-03-30", "--to", "2024-03-01")
    assert code == 2


def test_history_unknown_zone_is_a_config_error(
    env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "history", "2024-03-30", "--tz", "Mars/Olympus")
    assert code == 3
    assert "Mars/Olympus" in err


def test_wrong_key_is_exit_4_without_the_key(
    env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPLEDGER_API_KEY", "wrong-key-0000")
    code, out, err = run(capsys, "status")
    assert code == 4
    assert "wrong-key-0000" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_unreachable_cloud_is_exit_5(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setattr("zapledger.cli._common.CLIENT_OPTIONS", {"max_attempts": 1})
    code, _, err = run(capsys, "status")
    assert code == 5
    assert "Traceback" not in err


def test_no_credentials_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status")
    assert code == 3
    assert "zapledger login" in err


def test_login_checks_and_stores_privately(
    env: Simulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "login", "--hub-serial", HUB, "--api-key", KEY, "--director-url", env.url
    )
    assert code == 0, err
    path = tmp_path / "xdg-config" / "zapledger" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KEY in path.read_text()


def test_login_refuses_a_wrong_key(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "login", "--hub-serial", HUB, "--api-key", "nope", "--director-url", env.url
    )
    assert code == 4


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("status", "history", "decode", "login", "simulate", "demo"):
        assert command in out
