"""CSV import: the documented header, time zones, bad rows with their line numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from zapledger.exceptions import ConfigError, MeterError
from zapledger.meters import CSV_HEADER, import_csv, kwh_to_joules, parse_csv
from zapledger.models import MeterReading

FIXTURES = Path(__file__).parent / "fixtures"


def _parse(text: str, **kw: object) -> tuple[list[MeterReading], object]:
    got: list[MeterReading] = []
    stats = parse_csv(text.splitlines(keepends=True), sink=got.extend, **kw)  # type: ignore[arg-type]
    return got, stats


def test_fixture_with_every_column_and_a_bad_row() -> None:
    got: list[MeterReading] = []
    stats = import_csv(FIXTURES / "meter_totals.csv", sink=got.extend, tz="Europe/Amsterdam")
    assert stats.units == 5
    assert stats.accepted == 4
    assert [(i.kind.value, i.line) for i in stats.issues] == [("bad_row", 6)]
    assert "pv_kwh" in stats.issues[0].message
    first = {
        r.channel: r.total_j for r in got if r.timestamp == datetime(2026, 1, 15, 10, tzinfo=UTC)
    }
    assert first == {
        "import_t1": kwh_to_joules("1234.5"),
        "import_t2": kwh_to_joules("2345.25"),
        "export_t1": kwh_to_joules("100"),
        "export_t2": kwh_to_joules("200"),
        "pv": kwh_to_joules("5678.125"),
        "ev": kwh_to_joules("3456"),
    }
    assert {(r.source, r.time_source, r.meter_id) for r in got} == {("csv", "meter", "csv")}


def test_header_variants_and_meter_id_column() -> None:
    text = (
        "Timestamp;PV_kWh;EV_kWh;meter_id\n"
        "2026-01-15 11:00;1.5;;roof\n"
        "1768478400;1.75;2;\n"  # epoch seconds = 2026-01-15T12:00Z
    )
    got, _ = _parse(text, meter_id="house")
    assert [(r.meter_id, r.channel, r.timestamp.hour) for r in got] == [
        ("roof", "pv", 11),
        ("house", "pv", 12),
        ("house", "ev", 12),
    ]


def test_bad_rows_are_counted_with_line_numbers() -> None:
    text = (
        f"{CSV_HEADER}\n"
        "2026-01-15T10:00:00Z,1,2,3,4,5,6\n"
        "yesterday,1,2,3,4,5,6\n"
        "2026-01-15T10:15:00Z,1,2,3,4,5\n"
        "2026-01-15T10:30:00Z,1,-2,3,4,5,6\n"
        "2026-01-15T10:45:00Z,1,2,3,4,5,NaN\n"
        "2026-01-15T11:00:00Z,,,,,,\n"
        "2026-01-15T11:15:00Z,1,2,3,4,5,6\n"
    )
    got, stats = _parse(text)
    assert stats.accepted == 2  # type: ignore[attr-defined]
    lines = [(i.line, i.message.split(":")[0]) for i in stats.issues]  # type: ignore[attr-defined]
    assert lines == [
        (3, "timestamp 'yesterday'"),
        (4, "6 cells for 7 columns"),
        (5, "import_t2_kwh"),
        (6, "ev_kwh"),
        (7, "no totaliser value in the row"),
    ]
    assert len(got) == 12


def test_local_times_across_the_autumn_fold_and_the_spring_gap() -> None:
    text = (
        "timestamp,import_t1_kwh\n"
        "2025-10-26 01:30,1\n"
        "2025-10-26 02:30,2\n"  # first 02:30 (CEST)
        "2025-10-26 02:30,3\n"  # second 02:30 (CET)
        "2025-10-26 03:30,4\n"
        "2025-03-30 02:30,5\n"  # does not exist
        "2025-10-26T02:45+01:00,6\n"
    )
    got, stats = _parse(text, tz="Europe/Amsterdam")
    assert [r.timestamp.isoformat() for r in got] == [
        "2025-10-25T23:30:00+00:00",
        "2025-10-26T00:30:00+00:00",
        "2025-10-26T01:30:00+00:00",
        "2025-10-26T02:30:00+00:00",
        "2025-10-26T01:45:00+00:00",
    ]
    assert [(i.line, "does not exist" in i.message) for i in stats.issues] == [(6, True)]  # type: ignore[attr-defined]


def test_unreadable_files_and_headers(tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="no 'timestamp' column"):
        _parse("time,pv_kwh\n1,2\n")
    with pytest.raises(MeterError, match="no totaliser column"):
        _parse("timestamp,gas_m3\n1,2\n")
    with pytest.raises(MeterError, match="no CSV header"):
        _parse("# only a comment\n")
    with pytest.raises(MeterError, match="cannot read"):
        import_csv(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"timestamp,pv_kwh\n2026-01-15T10:00Z,1\xe9\n")
    stats = import_csv(latin)
    assert stats.accepted == 0 and stats.issues[0].line == 2
    assert "not UTF-8" in stats.issues[0].message
    with pytest.raises(ConfigError):
        _parse("timestamp,pv_kwh\n", tz="Mars/Olympus")


def test_kwh_to_joules() -> None:
    assert kwh_to_joules("0.001") == 3600
    assert kwh_to_joules(1.5) == 5_400_000
    for bad, why in (("x", "not a number"), ("inf", "not a finite"), ("-1", "negative")):
        with pytest.raises(ValueError, match=why):
            kwh_to_joules(bad)
