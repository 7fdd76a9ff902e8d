"""Exports: the stable columns, the same values in every format, J and kWh, UTC and local time."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from test_report_data import NOW, SERIAL, direct_sums, fill
from zapledger.exceptions import ConfigError
from zapledger.models import Resolution
from zapledger.report import EXPORT_COLUMNS, export_rows, write_export
from zapledger.store import Store, open_store
from zone_windows import day_window

TZ = "Europe/London"
DOC = Path(__file__).parents[1] / "docs" / "export-format.md"


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        fill(s, date(2024, 10, 26), date(2024, 10, 28), TZ)
        yield s


def test_columns_are_the_documented_ones() -> None:
    section = DOC.read_text().split("## Columns", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert tuple(documented) == EXPORT_COLUMNS


def test_minute_rows_are_the_stored_records(store: Store) -> None:
    day = date(2024, 10, 27)
    rows = list(export_rows(store, day, day, TZ, resolution="minute"))
    assert len(rows) == 1500
    first = rows[0]
    assert first["start_utc"] == datetime(2024, 10, 26, 23, tzinfo=UTC)
    assert first["start_local"] == "2024-10-27T00:00:00+01:00"
    assert first["end_utc"] - first["start_utc"] == timedelta(minutes=1)
    assert rows[120]["start_local"] == "2024-10-27T01:00:00+00:00"  # the second 01:00
    sums = direct_sums(store, SERIAL, Resolution.MINUTE, *day_window(day, TZ))
    for key, value in sums.items():
        assert sum(r[key] for r in rows) == value
    assert all(r["complete"] and r["source"] == "minute" and r["serial"] == "site" for r in rows)
    assert first["import_kwh"] == first["import_j"] / 3_600_000


def test_hour_rows_skip_hours_without_data(store: Store) -> None:
    rows = list(
        export_rows(store, date(2024, 10, 28), date(2024, 10, 29), TZ, resolution="hour", now=NOW)
    )
    assert len(rows) == 24
    assert {r["source"] for r in rows} == {"hour"}
    assert rows[0]["house_j"] == (
        rows[0]["generation_j"] + rows[0]["import_j"] - rows[0]["export_j"] - rows[0]["ev_j"]
    )


def test_day_rows_cover_every_day(store: Store) -> None:
    rows = list(
        export_rows(
            store,
            date(2024, 10, 27),
            date(2024, 10, 29),
            TZ,
            resolution="day",
            serial=SERIAL,
            now=NOW,
        )
    )
    assert [r["records"] for r in rows] == [25, 24, 0]
    assert [r["complete"] for r in rows] == [True, True, False]
    assert [r["source"] for r in rows] == ["hour", "hour", "none"]
    assert rows[0]["serial"] == SERIAL


def test_day_source_mixed_and_minute() -> None:
    with open_store("sqlite:///:memory:") as s:
        day = date(2024, 6, 3)
        start = day_window(day, TZ)[0]
        fill(s, day, day, TZ, drop_hours=[start])
        fill(s, day + timedelta(days=1), day + timedelta(days=1), TZ, hour=False)
        rows = list(export_rows(s, day, day + timedelta(days=1), TZ, resolution="day", now=NOW))
    assert [r["source"] for r in rows] == ["mixed", "minute"]


def _all_formats(store: Store, tmp_path: Path) -> dict[str, list[dict[str, object]]]:
    import pyarrow.parquet as pq

    day = date(2024, 10, 27)
    out: dict[str, list[dict[str, object]]] = {}
    buf = io.BytesIO()
    assert write_export(export_rows(store, day, day, TZ, resolution="hour"), "csv", buf) == 25
    out["csv"] = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    path = tmp_path / "x.jsonl"
    assert write_export(export_rows(store, day, day, TZ, resolution="hour"), "jsonl", path) == 25
    out["jsonl"] = [json.loads(line) for line in path.read_text().splitlines()]
    path = tmp_path / "x.parquet"
    assert write_export(export_rows(store, day, day, TZ, resolution="hour"), "parquet", path) == 25
    out["parquet"] = pq.read_table(path).to_pylist()
    return out


def test_formats_agree(store: Store, tmp_path: Path) -> None:
    data = _all_formats(store, tmp_path)
    for rows in data.values():
        assert list(rows[0]) == list(EXPORT_COLUMNS)
    csv_row, json_row, pq_row = data["csv"][3], data["jsonl"][3], data["parquet"][3]
    assert csv_row["start_utc"] == json_row["start_utc"] == "2024-10-27T02:00:00Z"
    assert pq_row["start_utc"] == datetime(2024, 10, 27, 2, tzinfo=UTC)
    assert csv_row["complete"] == "true" and json_row["complete"] is True and pq_row["complete"]
    for key in ("import_j", "house_j", "records"):
        assert int(str(csv_row[key])) == json_row[key] == pq_row[key]
    assert float(str(csv_row["house_kwh"])) == json_row["house_kwh"] == pq_row["house_kwh"]


def test_empty_parquet_has_the_schema(store: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "empty.parquet"
    rows = export_rows(store, date(2020, 1, 1), date(2020, 1, 1), TZ, resolution="hour", now=NOW)
    assert write_export(rows, "parquet", path) == 0
    assert tuple(pq.read_schema(path).names) == EXPORT_COLUMNS


def test_parquet_to_a_stream_in_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    from zapledger.report import _export

    monkeypatch.setattr(_export, "BATCH_ROWS", 100)
    buf = io.BytesIO()
    rows = export_rows(store, date(2024, 10, 27), date(2024, 10, 27), TZ, resolution="minute")
    assert write_export(rows, "parquet", buf) == 1500
    assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == 1500


def test_parquet_without_pyarrow(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    rows = export_rows(store, date(2024, 10, 27), date(2024, 10, 27), TZ, resolution="day")
    with pytest.raises(ConfigError, match=r"zapledger\[parquet\]"):
        write_export(rows, "parquet", tmp_path / "x.parquet")


def test_minute_export_spans_weeks_in_chunks() -> None:
    with open_store("sqlite:///:memory:") as s:
        fill(s, date(2024, 1, 1), date(2024, 1, 9), "UTC", hour=False)
        rows = export_rows(s, date(2024, 1, 1), date(2024, 1, 9), "UTC", resolution="minute")
        assert sum(1 for _ in rows) == 9 * 1440
