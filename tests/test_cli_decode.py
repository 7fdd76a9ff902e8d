"""``zapledger decode``: saved payloads to the JSON zapledger uses, and clean errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from zapledger.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def _decode(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["decode", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_zappi_example_decodes_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _decode(capsys, str(FIXTURES / "status_zappi_example.json"))
    assert code == 0
    (z,) = json.loads(out)["devices"]
    assert z["voltage_v"] == 223.1
    assert z["frequency_hz"] == 49.99
    assert z["current_limit_a"] == 24.6
    assert z["mode"] == "fast"
    assert z["charge_status"] == "charging"
    assert z["plug_status"] == "C2"
    assert z["timestamp"] == "2021-07-25T06:30:31Z"
    assert z["locks"]["locked_now"] is True
    assert z["ct_clamps"] == [
        {"index": 1, "name": "Internal Load", "power_w": 5312.0},
        {"index": 2, "name": "Grid", "power_w": 4924.0},
    ]


def test_history_decodes_with_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _decode(capsys, str(FIXTURES / "jdayhour_example.json"))
    assert code == 0
    (rec,) = json.loads(out)["records"]
    for key in ("timestamp", "import_j", "export_j", "generation_j", "diverted_j", "boosted_j",
                "voltage_v", "frequency_hz", "diverted_h1_j", "boosted_h1_j"):  # fmt: skip
        assert key in rec
    assert rec["diverted_j"] == 14706420
    assert rec["voltage_v"] == 244.6


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "status_zappi_example.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = _decode(capsys, "-")
    assert code == 0
    assert json.loads(out)["devices"][0]["serial"] == "12345678"


def test_table_view_of_a_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _decode(capsys, "--table", str(FIXTURES / "status_zappi_example.json"))
    assert code == 0
    assert "zappi 12345678" in out
    assert "223.1 V" in out


def test_html_page_is_one_line_and_exit_6(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _decode(capsys, str(FIXTURES / "error_page_502.html"))
    assert code == 6
    assert out == ""
    assert "HTML page" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _decode(capsys, str(tmp_path / "nope.json"))
    assert code == 6
    assert "cannot read" in err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode"]) == 2


def test_verbose_shows_details(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--verbose", "decode", str(FIXTURES / "truncated_jday.json")])
    _, err = capsys.readouterr()
    assert code == 6
    assert "Traceback" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("zapledger ")


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("zapledger")
    result = subprocess.run(
        [str(exe), "decode", str(FIXTURES / "status_zappi_example.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["devices"][0]["mode"] == "fast"
