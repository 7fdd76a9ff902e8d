"""Charts are valid PNGs of a sane size; DST days get 23 or 25 bars with the zone marked."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from test_report_data import NOW, fill
from zapledger.models import Period
from zapledger.report import (
    aggregate,
    charts_of_day,
    charts_of_month,
    charts_of_year,
    hourly_series,
    save_charts,
)
from zapledger.report._charts import days_chart, hour_labels, months_chart, profile_chart
from zapledger.store import Store, open_store

TZ = "Europe/London"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk; asserts the file is a PNG."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        fill(s, date(2024, 10, 20), date(2024, 11, 3), TZ, minute=False)
        fill(s, date(2023, 10, 25), date(2023, 10, 31), TZ, minute=False, ev=False)
        yield s


def test_day_charts_on_dst_days(store: Store) -> None:
    for day, bars in ((date(2024, 10, 27), 25), (date(2024, 3, 31), 23)):
        (chart,) = charts_of_day(store, day, TZ, now=NOW)
        assert chart.name == f"day-{day.isoformat()}"
        width, height = png_size(chart.png)
        assert (width, height) == (1000, 480)
        assert len(chart.png) > 10_000
        series = hourly_series(store, day, day, TZ, now=NOW)
        labels = hour_labels(aggregate(series, Period.HOUR, day, day, TZ).rows, TZ)
        assert len(labels) == bars
    series = hourly_series(store, date(2024, 10, 27), date(2024, 10, 27), TZ, now=NOW)
    labels = hour_labels(
        aggregate(series, Period.HOUR, date(2024, 10, 27), date(2024, 10, 27), TZ).rows, TZ
    )
    assert labels[:3] == ["00\nBST", "01", "01\nGMT"]
    assert labels[-1] == "23"


def test_month_charts(store: Store, tmp_path: Path) -> None:
    charts = charts_of_month(store, 2024, 10, TZ, now=NOW)
    assert [c.name for c in charts] == ["month-2024-10", "profile-2024-10"]
    paths = save_charts(charts, tmp_path / "out")
    for path in paths:
        width, height = png_size(path.read_bytes())
        assert 800 <= width <= 1200 and 400 <= height <= 800


def test_year_has_all_charts(store: Store) -> None:
    charts = charts_of_year(store, 2024, TZ, years=2, now=NOW)
    names = [c.name for c in charts]
    assert names[0] == "year-2024"
    assert names[1:13] == [f"month-2024-{m:02d}" for m in range(1, 13)]
    assert names[13:] == ["profile-2024", "years-2023-2024"]
    for chart in charts:
        png_size(chart.png)


def test_range_charts_across_months_and_years(store: Store) -> None:
    series = hourly_series(store, date(2023, 10, 25), date(2024, 11, 3), TZ, now=NOW)
    chart = days_chart(series, date(2024, 10, 20), date(2024, 11, 3), TZ)
    assert chart.name == "days-2024-10-20-2024-11-03"
    assert "2024-10-20 to 2024-11-03" in chart.title
    png_size(chart.png)
    chart = months_chart(series, date(2023, 10, 25), date(2024, 11, 3), TZ)
    assert chart.name.startswith("months-")
    png_size(chart.png)
    chart = profile_chart(series, [(2023, 10), (2024, 10), (2024, 11)], TZ)
    assert "October 2023 – November 2024" in chart.title
    png_size(chart.png)


def test_empty_store_still_draws(tmp_path: Path) -> None:
    with open_store("sqlite:///:memory:") as empty:
        (chart,) = charts_of_day(empty, date(2024, 1, 1), "UTC", now=NOW)
        png_size(chart.png)
        charts = charts_of_month(empty, 2024, 2, "UTC", now=NOW)
        assert len(charts) == 2
