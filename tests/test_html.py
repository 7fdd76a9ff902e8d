"""The HTML report: self-contained, the report's numbers, quality notes, the reconciliation."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from test_charts import HOUSE_RGB, assert_bars, bars_in_png, hand_day_sums
from test_report_data import NOW, SERIAL, fill
from zapledger.exceptions import UsageError
from zapledger.models import MeterReading, Resolution
from zapledger.report import write_html_report
from zapledger.report._html import _table, build_report_page, render_html
from zapledger.store import Store, open_store
from zone_windows import day_window
from zone_windows import local_midnight as local_midnight_utc

TZ = "Europe/London"


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        fill(s, date(2024, 10, 24), date(2024, 10, 29), TZ)
        yield s


def test_page_is_self_contained(store: Store, tmp_path: Path) -> None:
    path = write_html_report(
        store, date(2024, 10, 25), date(2024, 10, 31), TZ, out_dir=tmp_path / "r", now=NOW
    )
    assert path == tmp_path / "r" / "report-2024-10-25_2024-10-31.html"
    html = path.read_text()
    assert "http://" not in html and "https://" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Content-Security-Policy" in html
    # days, the last complete day per hour, the profile, the charge sessions' solar share
    assert len(sources) == 4


def test_numbers_are_those_of_the_stored_rows(store: Store) -> None:
    first, last = date(2024, 10, 25), date(2024, 10, 29)
    html = render_html(build_report_page(store, first, last, TZ, now=NOW))
    start, end = local_midnight_utc(first, TZ), local_midnight_utc(date(2024, 10, 30), TZ)
    rows = store.history(SERIAL, Resolution.HOUR, start, end)
    assert len(rows) == 5 * 24 + 1  # 27 October has 25 hours
    assert f"{sum(r.import_j for r in rows) / 3_600_000:,.2f}" in html
    for day in ("2024-10-25", "2024-10-26", "2024-10-27", "2024-10-28", "2024-10-29"):
        assert f"<td>{day}</td>" in html
    assert "Every day is complete." in html
    assert "whole site" in html


def test_embedded_charts_draw_the_stored_days_and_hours(store: Store) -> None:
    first, last = date(2024, 10, 25), date(2024, 10, 29)
    page = build_report_page(store, first, last, TZ, now=NOW)
    days, day, profile = page.charts
    assert (days.name, day.name) == ("days-2024-10-25-2024-10-29", "day-2024-10-29")
    sums = hand_day_sums(store, first, last, TZ)
    for key in ("house", "ev_solar", "ev_grid", "export"):
        assert_bars(days, key, sums[key])
    assert days.drawn("generation").y == pytest.approx(sums["gen"])
    start = local_midnight_utc(last, TZ)
    hours = store.history(SERIAL, Resolution.HOUR, start, start + timedelta(hours=24))
    assert_bars(day, "ev_solar", [r.diverted_h1_j / 3_600_000 for r in hours])
    assert day.drawn("house").x == tuple(float(h) for h in range(24))
    assert len(profile.drawn("consumption:2024-10").y) == 24
    embedded = [
        base64.b64decode(src.split(",", 1)[1])
        for src in re.findall(r'src="(data:image/png;base64,[^"]*)"', render_html(page))
    ]
    assert page.sessions_chart is not None
    assert embedded == [days.png, day.png, profile.png, page.sessions_chart.png]
    assert bars_in_png(embedded[0], HOUSE_RGB) == 5
    assert bars_in_png(embedded[1], HOUSE_RGB) == 24


def test_quality_notes_name_incomplete_days(store: Store) -> None:
    store.record_failure(
        SERIAL,
        Resolution.HOUR,
        date(2024, 10, 30),
        TZ,
        "HTTP 503",
        NOW,
    )
    html = render_html(
        build_report_page(store, date(2024, 10, 28), date(2024, 10, 30), TZ, now=NOW)
    )
    assert "1 of 3 days are incomplete" in html
    assert "2024-10-30 (24 h without data)" in html
    assert "last fetch failed (HTTP 503)" in html
    assert "These totals are incomplete" in html


def test_long_ranges_are_monthly(store: Store, tmp_path: Path) -> None:
    page = build_report_page(
        store, date(2023, 11, 1), date(2024, 10, 31), TZ, serial=SERIAL, now=NOW
    )
    assert page.report.period.value == "month"
    assert [c.name.split("-")[0] for c in page.charts] == ["months", "years", "profile"]
    html = render_html(page)
    assert f"zappi {SERIAL}" in html


def test_empty_store_page(tmp_path: Path) -> None:
    with open_store("sqlite:///:memory:") as empty:
        page = build_report_page(empty, date(2024, 1, 1), date(2024, 1, 1), "UTC", now=NOW)
        assert [c.name.split("-")[0] for c in page.charts] == ["days", "profile"]
        html = render_html(page)
    assert "Energy balance 2024-01-01" in html
    assert "24 hours in the range: 0 from hourly records" in html
    assert "24 without data" in html


def _with_meter(store: Store) -> None:
    store.upsert_meter_readings(
        [MeterReading("m1", "import_t1", datetime(2024, 10, 25, tzinfo=NOW.tzinfo), 1_000, "csv")]
    )


def test_no_meter_data_no_reconciliation(store: Store) -> None:
    first, last = date(2024, 10, 25), date(2024, 10, 26)
    assert "Reconciliation" not in render_html(build_report_page(store, first, last, TZ, now=NOW))


def test_meter_data_elsewhere_gives_a_note(store: Store) -> None:
    _with_meter(store)
    page = build_report_page(store, date(2024, 10, 27), date(2024, 10, 27), TZ, now=NOW)
    assert page.reconciliation is None
    assert "none cover these days" in render_html(page)


def test_generic_tables() -> None:
    assert _table({"a": 1.5})["kind"] == "pairs"
    assert _table([{"a": 1}, {"b": None}]) == {
        "kind": "rows",
        "columns": ["a", "b"],
        "rows": [["1", "—"], ["—", "—"]],
    }
    assert _table("text") == {"kind": "text", "text": "text"}


def test_reversed_range_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="backwards"):
        write_html_report(store, date(2024, 10, 26), date(2024, 10, 25), TZ, out_dir=tmp_path)
    assert not tmp_path.joinpath("report-2024-10-25_2024-10-26.html").exists()


def test_real_reconciliation_is_embedded(store: Store) -> None:
    """With meter readings, the page carries zapledger.reconciliation's summary and its chart."""
    first, last = date(2024, 10, 25), date(2024, 10, 27)
    start, end = day_window(first, TZ)[0], day_window(last, TZ)[1]
    total = 5_000_000_000
    readings = []
    for rec in store.history(SERIAL, Resolution.HOUR, start, end):
        readings.append(MeterReading("p1", "import_t1", rec.timestamp, total, "csv"))
        readings.append(MeterReading("p1", "import_t2", rec.timestamp, 0, "csv"))
        total += rec.import_j * 11 // 10  # the meter reads 10 % more: flagged
    readings.append(MeterReading("p1", "import_t1", end, total, "csv"))
    readings.append(MeterReading("p1", "import_t2", end, 0, "csv"))
    store.upsert_meter_readings(readings)
    page = build_report_page(store, first, last, TZ, now=NOW)
    assert page.reconciliation_chart is not None
    assert page.reconciliation_chart[:8] == b"\x89PNG\r\n\x1a\n"
    html = render_html(page)
    assert "Reconciliation with the meters" in html
    assert "Per pair, 2024-10-25 to 2024-10-27" in html
    assert "<td>import</td>" in html
    assert "Flagged periods (3)" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 5
