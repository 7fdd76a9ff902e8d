"""``zapledger report``, ``chart`` and ``export`` on a SQLite file of the test household."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from test_report_data import SERIAL, direct_sums, fill
from zapledger.cli import main
from zapledger.models import Resolution
from zapledger.store import open_store
from zone_windows import day_window

TZ = "Europe/London"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    with open_store(url) as store:
        fill(store, date(2024, 10, 25), date(2024, 10, 29), TZ)
    return url


def run(db: str, *args: str) -> int:
    return main(["--db", db, *args])


def test_report_table_with_totals(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "report", "--from", "2024-10-26", "--to", "2024-10-28", "--tz", TZ) == 0
    out = capsys.readouterr().out
    assert "2024-10-27" in out
    assert "Total" in out
    assert "Europe/London" in out
    assert "incomplete" not in out


def test_report_json_equals_stored_joules(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("report", "--from", "2024-10-27", "--to", "2024-10-27", "--tz", TZ, "--json")
    assert run(db, *args) == 0
    data = json.loads(capsys.readouterr().out)
    (row,) = data["rows"]
    with open_store(db) as store:
        sums = direct_sums(store, SERIAL, Resolution.HOUR, *day_window(date(2024, 10, 27), TZ))
    assert {k: row[k] for k in sums} == sums
    assert row["expected_hours"] == 25
    assert data["complete"] is True
    assert data["total"]["import_kwh"] == pytest.approx(sums["import_j"] / 3_600_000)


def test_report_csv_marks_incomplete_days(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("report", "--from", "2024-10-29", "--to", "2024-10-30", "--tz", TZ, "--csv")
    assert run(db, *args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["label"] for r in rows] == ["2024-10-29", "2024-10-30", "Total"]
    assert [r["complete"] for r in rows] == ["true", "false", "false"]
    assert rows[1]["problems"] == "24 h without data"
    assert rows[1]["self_consumption_rate"] == ""


def test_report_months_trim_leading_empty_periods(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(db, "report", "--period", "year", "--to", "2024-12-31", "--tz", TZ, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in data["rows"]] == ["2024"]
    assert data["from"] == "2024-01-01"
    assert run(db, "report", "--period", "month", "--to", "2024-11-30", "--tz", TZ) == 0
    out = capsys.readouterr().out
    assert "2024-10" in out and "2024-11" in out and "2024-09" not in out
    assert "month(s) incomplete" in out
    assert "2024-11: 720 h without data" in out


def test_report_default_range_and_notes(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(db) as store:
        store.record_failure(SERIAL, Resolution.HOUR, date(2024, 10, 30), TZ, "HTTP 500", _now())
    assert (
        run(
            db,
            "report",
            "--period",
            "day",
            "--from",
            "2024-10-30",
            "--to",
            "2024-10-30",
            "--tz",
            TZ,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "last fetch failed (HTTP 500)" in out
    assert run(db, "report", "--tz", TZ, "--period", "hour") == 0  # today, no data: all flagged
    assert "incomplete" in capsys.readouterr().out


def _now() -> datetime:
    return datetime(2024, 11, 1, tzinfo=UTC)


def test_report_html(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "html"
    args = ("report", "--from", "2024-10-25", "--to", "2024-10-29", "--tz", TZ, "--html")
    assert run(db, *args, str(out_dir)) == 0
    page = out_dir / "report-2024-10-25_2024-10-29.html"
    assert page.is_file()
    assert str(page) in capsys.readouterr().out.replace("\n", "")


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--table", "--csv"),
        ("report", "--from", "2024-10-02", "--to", "2024-10-01"),
        ("report", "--from", "yesterday"),
        ("export", "--format", "parquet"),
        ("chart", "2024-13"),
        ("chart", "2024-10-27", "--kind", "year"),
    ],
)
def test_usage_errors(db: str, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, *args, "--tz", TZ) == 2
    assert capsys.readouterr().err


def test_chart_day_month_year(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "charts"
    assert run(db, "chart", "2024-10-27", "--tz", TZ, "--out", str(out)) == 0
    assert run(db, "chart", "2024-10", "--tz", TZ, "--out", str(out), "--kind", "profile") == 0
    for kind in ("year", "years"):
        assert (
            run(db, "chart", "2024", "--tz", TZ, "--out", str(out), "--years", "2", "--kind", kind)
            == 0
        )
    names = sorted(p.name for p in out.iterdir())
    assert "day-2024-10-27.png" in names
    assert "profile-2024-10.png" in names
    assert "year-2024.png" in names and "years-2023-2024.png" in names
    assert "month-2024-01.png" not in names
    printed = capsys.readouterr().out
    assert "day-2024-10-27.png" in printed
    assert run(db, "chart", "--tz", TZ, "--out", str(out), "--kind", "month") == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_to_stdout(db: str, fmt: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    args = (
        "export",
        "--resolution",
        "day",
        "--format",
        fmt,
        "--from",
        "2024-10-27",
        "--to",
        "2024-10-27",
        "--tz",
        TZ,
    )
    assert run(db, *args) == 0
    text = capsysbinary.readouterr().out.decode()
    if fmt == "csv":
        (row,) = list(csv.DictReader(io.StringIO(text)))
    else:
        (line,) = text.splitlines()
        row = json.loads(line)
    assert row["start_local"] == "2024-10-27T00:00:00+01:00"
    assert row["end_local"] == "2024-10-28T00:00:00+00:00"
    assert str(row["records"]) == "25"


def test_export_parquet_file(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "out.parquet"
    args = (
        "export",
        "--resolution",
        "hour",
        "--format",
        "parquet",
        "--from",
        "2024-10-27",
        "--to",
        "2024-10-27",
        "--tz",
        TZ,
        "-o",
        str(target),
    )
    assert run(db, *args) == 0
    assert pq.read_table(target).num_rows == 25
    assert "25 row(s) written" in capsys.readouterr().err
