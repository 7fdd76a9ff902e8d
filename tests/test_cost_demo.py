"""The demo's cost step: its day-ahead prices go through the CSV import, and the month is priced
under both demo tariffs with every hour known."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from test_report_data import fill
from zapledger.demo import demo_cost
from zapledger.store import open_store

TZ = "Europe/London"


def test_demo_month_is_priced_under_both_tariffs(tmp_path: Path) -> None:
    first, last = date(2024, 10, 25), date(2024, 10, 28)
    with open_store("sqlite:///:memory:") as store:
        fill(store, first, last, TZ)
        cost = demo_cost(store, first, last, TZ, out_dir=tmp_path)
        (series,) = store.price_series()
    assert cost.prices_csv.read_text().startswith("start,minutes,price_per_kwh,currency\n")
    assert series[0] == "demo-day-ahead" and series[1] >= 4 * 48
    assert set(cost.reports) == {"time-of-use", "dynamic"}
    nets = []
    for report in cost.reports.values():
        assert report.cost is not None
        total = report.cost.total
        assert total.unpriced_hours == 0 and total.net_cost.value is not None
        assert total.ev_grid_cost.value is not None and total.ev_grid_cost.value > 0
        nets.append(total.net_cost.value)
    assert nets[0] != nets[1]
    tou, dynamic = cost.sessions["time-of-use"], cost.sessions["dynamic"]
    assert len(tou) == len(dynamic) > 0
    for a, b in zip(tou, dynamic, strict=True):
        assert a.start == b.start and a.energy_j == b.energy_j > 0
        assert a.claim.known and b.claim.known
    assert datetime(2024, 10, 27, tzinfo=UTC)  # the fall-back day is in the range
