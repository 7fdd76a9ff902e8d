"""A user's mistake is never an internal error: settings typed at load, dates in a sane range,
serials ASCII digits, and servers that say where they listen."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from zapledger.cli import main
from zapledger.config import load_settings
from zapledger.exceptions import ConfigError
from zapledger.listen import exposure_warning, is_loopback
from zapledger.simulator import Simulator

HUB = "10088888"
KEY = "validation-key-31"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("ZAPLEDGER_CONFIG", str(path))
    return path


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hub_serial = \"\xff\xfe\"\n", "not UTF-8"),
        (b"api_key = true\n", "'api_key' should be a string, not true/false"),
        (b"api_key = \"\"\n", "'api_key' is empty"),
        (b"hub_seriall = \"1\"\n", "unknown setting 'hub_seriall'"),
        (b"hub_serial = \"\xef\xbc\x91\xef\xbc\x92\"\n", "digits 0-9 only"),  # fullwidth 1 2
        (b"hub_serial = \"\xc2\xb9\xc2\xb2\"\n", "digits 0-9 only"),  # superscript 1 2
        (b"director_url = \"https://director.example:99999\"\n", "a port must be 1-65535"),
        (b"director_url = \"ftp://director.example\"\n", "should be http(s)://host[:port]"),
        (b"timezone = \"Mars/Olympus\"\n", "unknown time zone"),
        (b"max_file_bytes = -5\n", "between 1,024 and"),
        (b"max_payload_bytes = \"lots\"\n", "whole number of bytes"),
    ],
)  # fmt: skip
def test_bad_setting_is_a_config_error_naming_it(
    config_file: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_bytes(content)
    config_file.chmod(0o600)
    code, _, err = run(capsys, "status")
    assert code == 3
    assert message in _one_error_line(err)


def test_near_miss_key_gets_a_suggestion(config_file: Path) -> None:
    config_file.write_text('api_kye = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'api_key'"):
        load_settings()


def test_environment_is_typed_too(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="digits 0-9 only"):
        load_settings(environ={"ZAPLEDGER_HUB_SERIAL": "１２３"})
    with pytest.raises(ConfigError, match="1,024"):
        load_settings(environ={"ZAPLEDGER_MAX_FILE_BYTES": "10"})
    assert load_settings(environ={"ZAPLEDGER_MAX_FILE_BYTES": "2048"}).max_file_bytes == 2048


def test_login_refuses_non_ascii_digits(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "login", "--hub-serial", "１２３", "--api-key", "x", "--no-check")
    assert code == 2 and "digits 0-9 only" in err


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("history", "9999-01-01"),
        ("history", "0001-01-01"),
        ("report", "--from", "9999-01-01"),
        ("report", "--from", "2026-01-01", "--to", "0001-01-01"),
        ("reconcile", "--from", "0001-01-01"),
        ("export", "--from", "9999-12-31"),
        ("gaps", "--since", "0001-01-01"),
        ("chart", "9999"),
        ("sync", "--since", "2100-01-01"),
    ],
)
def test_dates_outside_the_sane_range_are_usage_errors(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", "http://127.0.0.1:9")  # never beyond loopback
    code, _, err = run(capsys, *args)
    assert code == 2, err
    assert "2000-01-01 to 2099-12-31" in err or "YYYY" in err
    assert "Traceback" not in err


def test_sync_beyond_the_range_is_a_usage_error_not_up_to_date(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{tmp_path / 'z.sqlite3'}")
    code, out, err = run(capsys, "sync", "--from", "2100-01-01", "--tz", "UTC")
    assert code == 2
    assert "outside 2000-01-01 to 2099-12-31" in err and "up to date" not in out
    code, out, err = run(capsys, "sync", "--from", "2026-02-01", "--to", "2026-01-01")
    assert code == 2 and "backwards" in err
    assert not (tmp_path / "z.sqlite3").exists()


# --- the database --------------------------------------------------------------------------------


def test_corrupt_schema_version_is_a_database_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "z.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (version, description, applied_at)")
        conn.execute("INSERT INTO schema_migrations VALUES ('seven', 'oops', 0)")
    conn.close()
    for command in (("report",), ("meter", "import", str(tmp_path / "none.csv"))):
        code, _, err = run(capsys, "--db", f"sqlite:///{path}", *command)
        assert code == 8
        assert "corrupt schema version" in _one_error_line(err)


def test_meter_csv_with_an_absurd_value_keeps_the_good_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "pv.csv"
    csv.write_text("timestamp,pv_kwh\n2026-01-01T00:00Z,1.5\n2026-01-01T01:00Z,1e20\n")
    code, out, err = run(capsys, "--db", f"sqlite:///{tmp_path / 'z.sqlite3'}", "meter", "import",
                         str(csv), "--tz", "UTC")  # fmt: skip
    assert code in (0, 1), err
    assert "line 3" in out and "1 readings stored" in out


# --- servers that listen -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("192.0.2.10", False)],
)  # fmt: skip
def test_loopback_is_recognised(host: str, local: bool) -> None:
    assert is_loopback(host) is local
    assert (exposure_warning("a server", host, f"{host}:1") is None) is local


def test_simulator_refuses_the_demo_key_beyond_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="demo API key"):
        Simulator(host="0.0.0.0")
    code, _, err = run(capsys, "simulate", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and "well-known demo key" in err


def test_simulate_warns_and_shows_the_real_address_beyond_loopback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import zapledger.simulator as simulator

    def fake_serve(*args: Any, on_ready: Any, **kwargs: Any) -> None:
        # nothing is bound in a test beyond loopback: a stand-in reports what a bind gave
        sim = SimpleNamespace(
            bound="0.0.0.0:8423",
            url="http://127.0.0.1:8423",
            servers={"director": "0.0.0.0:8423"},
            household=SimpleNamespace(zappi_serials=["16000001"]),
        )
        on_ready(sim)

    monkeypatch.setattr(simulator, "serve_forever", fake_serve)
    code, out, err = run(capsys, "simulate", "--host", "0.0.0.0", "--api-key", "own-secret-key")
    assert code == 0
    assert "simulator listening on http://0.0.0.0:8423" in out
    assert "own-secret-key" not in out
    assert _one_error_line(err).startswith("warning: the simulator listens on 0.0.0.0:8423")


def test_simulate_banner_shows_the_bound_port(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from zapledger.cli import run; run()", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert first.startswith("simulator listening on http://127.0.0.1:")
    assert not first.startswith("simulator listening on http://127.0.0.1:8423 ")


def test_simulator_answers_a_year_1_request_with_an_error() -> None:
    with Simulator(hub_serial=HUB, api_key=KEY, now=datetime(2026, 1, 2, tzinfo=UTC)) as sim:
        auth = httpx.DigestAuth(HUB, KEY)
        with httpx.Client(base_url=sim.url, auth=auth, timeout=10) as http:
            for day in ("0001-01-01", "9999-12-31"):
                y, m, d = day.split("-")
                response = http.get(f"/cgi-jdayhour-Z16000001-{y}-{m}-{d}")
                assert response.status_code == 200
                assert response.json()["status"] == "-14"
