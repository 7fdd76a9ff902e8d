"""``zapledger sessions``: table, CSV and JSON of the sessions of a SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from test_sessions import fixture, load
from zapledger.cli import main
from zapledger.cli._sessions import CSV_COLUMNS
from zapledger.store import open_store

TZ = "Europe/London"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    with open_store(url) as store:
        for name in ("dst_fall", "gaps", "plug"):
            load(store, fixture(name))
    return url


def run(db: str, *args: str) -> int:
    return main(["--db", db, "sessions", "--tz", TZ, *args])


def test_json_is_the_library_report(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "--from", "2024-10-27", "--to", "2024-10-27", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    expected = fixture("dst_fall")["expected"]
    assert [s["start"] for s in data["sessions"]] == [e["start"] for e in expected]
    assert [s["energy_j"] for s in data["sessions"]] == [e["energy_j"] for e in expected]
    assert data["total"]["energy_kwh"] == pytest.approx((4_800_000 + 2_700_000) / 3_600_000)
    assert (data["from"], data["to"], data["tz"]) == ("2024-10-27", "2024-10-27", TZ)


def test_csv_has_one_row_per_session(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "--from", "2024-05-10", "--to", "2024-05-10", "--csv") == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5
    first = rows[0]
    assert first["start_local"] == "2024-05-10T11:00:00+01:00"
    assert first["missing_minutes"] == "16"
    assert first["missing"] == (
        "2024-05-10T10:30:00+00:00/2024-05-10T10:45:00+00:00 "
        "2024-05-10T10:59:00+00:00/2024-05-10T11:00:00+00:00"
    )
    assert float(first["energy_kwh"]) == pytest.approx(7_080_000 / 3_600_000)
    assert rows[-1]["end_reason"] == "open"


def test_table_shows_local_times_modes_and_totals(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(db, "--from", "2024-08-20", "--to", "2024-08-20", "--table") == 0
    out = capsys.readouterr().out
    assert "2024-08-20 18:00 BST" in out and "18:20 BST" in out
    assert "fast" in out and "eco" in out
    assert "2 session(s)" in out
    assert "3.000" in out  # 8.4 + 2.4 MJ


def test_table_marks_missing_minutes_and_open_sessions(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(db, "--from", "2024-05-10", "--to", "2024-05-10") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 session(s) have minutes missing" in out
    assert "1 session(s) may not be over" in out


def test_pause_option(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--from", "2024-05-10", "--to", "2024-05-10", "--json")
    assert run(db, *args, "--pause", "20") == 0
    assert len(json.loads(capsys.readouterr().out)["sessions"]) == 6  # 20 idle minutes split
    assert run(db, *args, "--pause", "0") == 2


def test_one_output_format_only(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "--csv", "--json") == 2
    assert "choose one of" in capsys.readouterr().err
