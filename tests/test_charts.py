"""Charts draw what the store holds: one bar per local hour or day, heights equal to hand sums.

Every check reads what the chart DREW (``Chart.series``, read back from the matplotlib artists)
or decodes the PNG itself; expected values come from the payload fixtures or the stored rows,
summed here by hand (joules / 3.6e6 = kWh), never from the report code under test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib import image as mpimg

from test_report_data import NOW, SERIAL, fill
from zapledger.models import Period, Resolution, decode_history
from zapledger.report import (
    Chart,
    aggregate,
    charts_of_day,
    charts_of_month,
    charts_of_year,
    hourly_series,
    save_charts,
)
from zapledger.report._charts import days_chart, hour_labels, months_chart, profile_chart
from zapledger.store import Store, open_store
from zone_windows import local_midnight as local_midnight_utc

TZ = "Europe/London"
FIXTURES = Path(__file__).parent / "fixtures"
J_PER_KWH = 3_600_000
#: The colour of the house bars (report/_charts.py COLOURS["house"]), as 8-bit RGB.
HOUSE_RGB = (0x4C, 0x72, 0xB0)


def decode_png(data: bytes) -> Any:
    """The PNG's pixels as an (height, width, channels) float array; asserts it is a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(data), format="png")


def assert_drawn_png(data: bytes, size: tuple[int, int]) -> Any:
    """A decoded PNG of ``size`` (width, height) with a real picture on it, not a blank page."""
    pixels = decode_png(data)
    assert (pixels.shape[1], pixels.shape[0]) == size
    rgb = np.round(pixels[:, :, :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 20  # text, axes, bars: far more than a blank or one-colour image
    white = np.all(rgb == 255, axis=1).mean()
    assert 0.3 < white < 0.98
    return pixels


def bars_in_png(data: bytes, rgb: tuple[int, int, int]) -> int:
    """How many separate bars of colour ``rgb`` the plot area of a balance chart shows.

    Columns of the plot area (the axes box of ``_bar_chart``) holding that exact colour are
    grouped into runs; each run is one bar (bars are 80 % of their slot, so runs never touch).
    """
    pixels = decode_png(data)
    height, width = pixels.shape[:2]
    top, bottom = int(height * 0.08) + 2, int(height * 0.78) - 2
    left, right = int(width * 0.07) + 2, int(width * 0.98) - 2
    area = np.round(pixels[top:bottom, left:right, :3] * 255).astype(np.int16)
    hit = np.all(np.abs(area - np.array(rgb)) <= 2, axis=2).any(axis=0)
    runs = np.diff(np.concatenate(([0], hit.astype(np.int8), [0])))
    return int((runs == 1).sum())


def payload_records(name: str) -> list[dict[str, Any]]:
    """The records of a ``{"U<serial>": [...]}`` payload fixture."""
    (records,) = json.loads((FIXTURES / name).read_bytes()).values()
    assert isinstance(records, list)
    return records


def hand_day_sums(store: Store, first: date, last: date, tz: str) -> dict[str, list[float]]:
    """kWh per local day straight from the stored hour rows: house, EV solar/grid, export, gen."""
    out: dict[str, list[float]] = {k: [] for k in ("house", "ev_solar", "ev_grid", "export", "gen")}
    day = first
    while day <= last:
        start = local_midnight_utc(day, tz)
        end = local_midnight_utc(day + timedelta(days=1), tz)
        rows = store.history(SERIAL, Resolution.HOUR, start, end)
        imp = sum(r.import_j for r in rows)
        exp = sum(r.export_j for r in rows)
        gen = sum(r.generation_j for r in rows)
        div = sum(r.diverted_h1_j + r.diverted_h2_j + r.diverted_h3_j for r in rows)
        boo = sum(r.boosted_h1_j + r.boosted_h2_j + r.boosted_h3_j for r in rows)
        out["house"].append((gen + imp - exp - div - boo) / J_PER_KWH)
        out["ev_solar"].append(div / J_PER_KWH)
        out["ev_grid"].append(boo / J_PER_KWH)
        out["export"].append(-exp / J_PER_KWH)
        out["gen"].append(gen / J_PER_KWH)
        day += timedelta(days=1)
    return out


def assert_bars(chart: Chart, key: str, values: list[float]) -> None:
    """The chart drew one bar per non-zero value, at its slot, with that height."""
    drawn = chart.drawn(key)
    expected = [(float(i), v) for i, v in enumerate(values) if v]
    assert list(drawn.x) == [x for x, _ in expected]
    assert list(drawn.y) == pytest.approx([v for _, v in expected], rel=1e-9)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        fill(s, date(2024, 10, 20), date(2024, 11, 3), TZ, minute=False)
        fill(s, date(2023, 10, 25), date(2023, 10, 31), TZ, minute=False, ev=False)
        yield s


@pytest.mark.parametrize(
    ("name", "day", "hours"),
    [
        ("jdayhour_2021-03-28_london_spring_forward.json", date(2021, 3, 28), 23),
        ("jdayhour_2021-10-31_london_fall_back.json", date(2021, 10, 31), 25),
    ],
)
def test_dst_day_chart_draws_a_bar_per_hour_with_the_payload_energy(
    name: str, day: date, hours: int
) -> None:
    payload = (FIXTURES / name).read_bytes()
    records = payload_records(name)
    assert len(records) == hours
    with open_store("sqlite:///:memory:") as s:
        history = decode_history(payload, Resolution.HOUR)
        s.upsert_device(history.serial, "zappi")
        s.write_day(history.serial, Resolution.HOUR, day, TZ, history, expected=hours, final=True,
                    fetched_at=NOW)  # fmt: skip
        (chart,) = charts_of_day(s, day, TZ, now=NOW)
    assert chart.name == f"day-{day.isoformat()}"
    # the payload has import and export only: the house used import - export, hour by hour
    house = [(r.get("imp", 0) - r.get("exp", 0)) / J_PER_KWH for r in records]
    assert chart.drawn("house").x == tuple(float(i) for i in range(hours))
    assert_bars(chart, "house", house)
    assert chart.drawn("house").total == pytest.approx(sum(house))
    assert_bars(chart, "export", [-r.get("exp", 0) / J_PER_KWH for r in records])
    assert chart.drawn("generation").y == (0.0,) * hours
    assert chart.drawn("ev_solar").x == chart.drawn("ev_grid").x == ()
    with pytest.raises(KeyError):
        chart.drawn("incomplete")  # every hour is there
    assert_drawn_png(chart.png, (1000, 480))
    assert bars_in_png(chart.png, HOUSE_RGB) == hours


def test_dst_hour_labels_mark_the_zone_change(store: Store) -> None:
    day = date(2024, 10, 27)
    series = hourly_series(store, day, day, TZ, now=NOW)
    labels = hour_labels(aggregate(series, Period.HOUR, day, day, TZ).rows, TZ)
    assert len(labels) == 25
    assert labels[:3] == ["00\nBST", "01", "01\nGMT"]
    assert labels[-1] == "23"


def test_day_chart_bars_equal_the_stored_hours(store: Store) -> None:
    day = date(2024, 10, 27)
    (chart,) = charts_of_day(store, day, TZ, now=NOW)
    start = local_midnight_utc(day, TZ)
    rows = store.history(SERIAL, Resolution.HOUR, start, start + timedelta(hours=25))
    assert len(rows) == 25
    assert_bars(chart, "house", [(r.generation_j + r.import_j - r.export_j - r.diverted_h1_j
                                  - r.boosted_h1_j) / J_PER_KWH for r in rows])  # fmt: skip
    assert_bars(chart, "ev_grid", [r.boosted_h1_j / J_PER_KWH for r in rows])
    assert chart.drawn("generation").y == pytest.approx([r.generation_j / J_PER_KWH for r in rows])
    assert bars_in_png(chart.png, HOUSE_RGB) == 25


def test_month_chart_totals_equal_the_stored_rows(store: Store, tmp_path: Path) -> None:
    charts = charts_of_month(store, 2024, 10, TZ, now=NOW)
    assert [c.name for c in charts] == ["month-2024-10", "profile-2024-10"]
    month = charts[0]
    sums = hand_day_sums(store, date(2024, 10, 1), date(2024, 10, 31), TZ)
    for key in ("house", "ev_solar", "ev_grid", "export"):
        assert_bars(month, key, sums[key])
        assert month.drawn(key).total == pytest.approx(sum(sums[key]))
    # days without data are drawn as no point (NaN) on the generation line
    generation = month.drawn("generation")
    assert len(generation.y) == 31
    assert generation.total == pytest.approx(sum(sums["gen"]))
    assert bars_in_png(month.png, HOUSE_RGB) == 12  # 20..31 October hold data
    assert month.drawn("incomplete").x == tuple(float(i) for i in range(19))
    paths = save_charts(charts, tmp_path / "out")
    for chart, path in zip(charts, paths, strict=True):
        assert path.read_bytes() == chart.png
        assert_drawn_png(path.read_bytes(), (1000, 480 if chart is month else 440))


def test_profile_is_the_mean_power_per_local_hour(store: Store) -> None:
    (profile,) = charts_of_month(store, 2023, 10, TZ, now=NOW, kinds={"profile"})
    drawn = profile.drawn("generation:2023-10")
    assert drawn.x == tuple(float(h) for h in range(24))
    # 25..31 October 2023 are stored, all complete; BST until the 29th, GMT after
    by_hour: dict[int, list[int]] = {h: [] for h in range(24)}
    start = local_midnight_utc(date(2023, 10, 25), TZ)
    end = local_midnight_utc(date(2023, 11, 1), TZ)
    for r in store.history(SERIAL, Resolution.HOUR, start, end):
        by_hour[r.timestamp.astimezone(ZoneInfo(TZ)).hour].append(r.generation_j)
    means = [sum(v) / len(v) / J_PER_KWH for _, v in sorted(by_hour.items())]
    assert list(drawn.y) == pytest.approx(means)


def test_year_has_all_charts(store: Store) -> None:
    charts = charts_of_year(store, 2024, TZ, years=2, now=NOW)
    names = [c.name for c in charts]
    assert names[0] == "year-2024"
    assert names[1:13] == [f"month-2024-{m:02d}" for m in range(1, 13)]
    assert names[13:] == ["profile-2024", "years-2023-2024"]
    year = charts[0]
    sums = hand_day_sums(store, date(2024, 10, 1), date(2024, 11, 30), TZ)
    october, november = sum(sums["house"][:31]), sum(sums["house"][31:])
    assert_bars(year, "house", [0.0] * 9 + [october, november, 0.0])
    years = charts[-1]
    assert years.drawn("generation:2024").x == (10.0, 11.0)  # months with data only
    for chart in charts:
        decode_png(chart.png)


def test_range_charts_across_months_and_years(store: Store) -> None:
    series = hourly_series(store, date(2023, 10, 25), date(2024, 11, 3), TZ, now=NOW)
    chart = days_chart(series, date(2024, 10, 20), date(2024, 11, 3), TZ)
    assert chart.name == "days-2024-10-20-2024-11-03"
    assert "2024-10-20 to 2024-11-03" in chart.title
    assert_bars(
        chart, "house", hand_day_sums(store, date(2024, 10, 20), date(2024, 11, 3), TZ)["house"]
    )
    assert bars_in_png(chart.png, HOUSE_RGB) == 15
    chart = months_chart(series, date(2023, 10, 25), date(2024, 11, 3), TZ)
    assert chart.name.startswith("months-")
    assert len(chart.drawn("generation").y) == 14  # Oct 2023 .. Nov 2024
    assert_drawn_png(chart.png, (1000, 480))
    chart = profile_chart(series, [(2023, 10), (2024, 10), (2024, 11)], TZ)
    assert "October 2023 – November 2024" in chart.title
    assert {s.key.split(":")[1] for s in chart.series} == {"2023-10", "2024-10", "2024-11"}
    assert_drawn_png(chart.png, (1000, 440))


def test_empty_store_still_draws(tmp_path: Path) -> None:
    with open_store("sqlite:///:memory:") as empty:
        (chart,) = charts_of_day(empty, date(2024, 1, 1), "UTC", now=NOW)
        assert_drawn_png(chart.png, (1000, 480))
        assert chart.drawn("house").x == ()  # nothing to stack: no bar at all
        assert chart.drawn("incomplete").x == tuple(float(h) for h in range(24))
        charts = charts_of_month(empty, 2024, 2, "UTC", now=NOW)
        assert len(charts) == 2
