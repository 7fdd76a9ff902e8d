"""``zapledger demo`` runs the whole job against the simulator with no credentials."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from zapledger.cli import main


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--days", "3", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "zappi 16000001" in out
    assert "Total" in out
    assert "zappi vs meters" in out
    assert "What it cost" in out and "time-of-use (GBP)" in out and "dynamic (GBP)" in out
    assert "Charge sessions and their cost" in out
    reports = list(tmp_path.glob("report-*.html"))
    assert len(reports) == 1
    assert str(reports[0].resolve()) in out.replace("\n", "")
    db = sqlite3.connect(tmp_path / "zapledger.sqlite3")
    try:
        (hours,) = db.execute("SELECT count(*) FROM history_hour").fetchone()
    finally:
        db.close()
    assert hours >= 2 * 23


def test_demo_rerun_fetches_only_what_is_not_final(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--days", "2", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["demo", "--days", "2", "--out", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # which days are still not final depends on the time of day: either none is (up to date)
    # or those that are refetched come back unchanged
    assert "zappi 16000001: up to date" in out or "0 rows new or changed" in out
