"""Speed of the cost layer: a yearly cost report over three years of minute data.

Goal (docs/benchmarks.md): the yearly report WITH cost under 300 ms over three years of minute
data in SQLite, printed next to the plain balance report of the same store in the same process
(the baseline). Tariffs measured: time-of-use with whole-hour windows (priced per hour), dynamic
hourly prices (26,304 stored prices), and half-hourly dynamic prices (every hour priced per half
hour from its minutes, summed in SQL: the slow path, shown for scale).

``python bench/bench_cost.py [--quick]``; ``run(quick)`` returns the timings in seconds.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench_report import TZ, best_of, build_store
from zapledger.models import PricePoint
from zapledger.report import balance
from zapledger.store import open_store
from zapledger.tariffs import Tariffs, parse_tariffs

GOAL_S = 0.300
TOU = """
[[contracts]]
name = "tou"
kind = "time-of-use"
currency = "GBP"
from = 2020-01-01
import_per_kwh = "0.30"
export_per_kwh = "0.15"
standing_charge_per_day = "0.53"
windows = [
  { name = "T1", days = "all", start = "01:00", end = "05:00", import_per_kwh = "0.085" },
  { name = "peak", days = "weekdays", start = "16:00", end = "19:00", import_per_kwh = "0.42" },
]
"""


def _dynamic(series: str) -> Tariffs:
    text = TOU.replace('kind = "time-of-use"', 'kind = "dynamic"').split("import_per_kwh")[0]
    text += f'prices = "{series}"\nexport_per_kwh = "0.15"\n'
    return parse_tariffs(tomllib.loads(text))


def _store_prices(url: str, series: str, first: date, last: date, minutes: int) -> int:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
    step = timedelta(minutes=minutes)
    points = []
    at, i = start, 0
    while at < end:
        points.append(PricePoint(series, at, minutes * 60, 60_000 + 9_000 * (i % 37), "GBP", "b"))
        at, i = at + step, i + 1
    with open_store(url) as store:
        store.upsert_prices(points)
    return len(points)


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    """Best CPU time of this process (less sensitive than wall time to a machine shared by many)."""
    best = math.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _report(url: str, first: date, last: date, tariffs: Tariffs | None) -> None:
    with open_store(url) as store:
        report = balance(store, first, last, TZ, period="year", tariffs=tariffs)
        assert report.total.coverage.complete
        if tariffs is not None:
            assert report.cost is not None and report.cost.total.unpriced_hours == 0


def run(quick: bool) -> dict[str, float]:
    """Timings in seconds. ``quick``: one quarter of minute data instead of three years."""
    first = date(2022, 1, 1)
    last = date(2022, 3, 31) if quick else date(2024, 12, 31)
    repeat = 3 if quick else 5
    results: dict[str, float] = {}
    tou = parse_tariffs(tomllib.loads(TOU))
    hourly, half_hourly = _dynamic("hourly"), _dynamic("agile")
    with tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp:
        path = Path(tmp) / "cost.sqlite3"
        url = f"sqlite:///{path}"
        results["minute_records"] = float(build_store(path, first, last))
        results["prices_hourly"] = float(_store_prices(url, "hourly", first, last, 60))
        _store_prices(url, "agile", first, last, 30)
        _report(url, first, last, tou)  # warm imports and the page cache
        results["balance_year_s"] = best_of(lambda: _report(url, first, last, None), repeat)
        results["cost_year_tou_s"] = best_of(lambda: _report(url, first, last, tou), repeat)
        results["cost_year_dynamic_hourly_s"] = best_of(
            lambda: _report(url, first, last, hourly), repeat
        )
        results["cost_year_dynamic_half_hourly_s"] = best_of(
            lambda: _report(url, first, last, half_hourly), 1
        )
        results["balance_year_cpu_s"] = best_cpu(lambda: _report(url, first, last, None), repeat)
        results["cost_year_tou_cpu_s"] = best_cpu(lambda: _report(url, first, last, tou), repeat)
        results["cost_year_dynamic_hourly_cpu_s"] = best_cpu(
            lambda: _report(url, first, last, hourly), repeat
        )
    return results


def _print(results: dict[str, float]) -> None:
    print(f"{int(results['minute_records']):,} minute records")
    print(f"{'measure':<58} {'time':>9} {'goal':>8}   {'plain balance':>13} {'ratio':>7}")
    for label, key, base_key, goal in (
        ("yearly cost report, time-of-use (hour windows)", "cost_year_tou_s", "", GOAL_S),
        ("yearly cost report, dynamic hourly prices", "cost_year_dynamic_hourly_s", "", GOAL_S),
        (
            "yearly cost report, dynamic half-hourly prices",
            "cost_year_dynamic_half_hourly_s",
            "",
            0,
        ),
        ("CPU time: yearly cost report, time-of-use", "cost_year_tou_cpu_s", "_cpu", GOAL_S),
        (
            "CPU time: yearly cost report, dynamic hourly",
            "cost_year_dynamic_hourly_cpu_s",
            "_cpu",
            0,
        ),
    ):
        base = results[f"balance_year{base_key}_s"]
        goal_text = f"{goal * 1000:.0f} ms" if goal else ""
        print(
            f"{label:<58} {results[key] * 1000:>6.0f} ms {goal_text:>8}   "
            f"{base * 1000:>10.0f} ms {results[key] / base:>6.2f}x"
        )


if __name__ == "__main__":
    t0 = time.perf_counter()
    _print(run("--quick" in sys.argv[1:]))
    print(f"({time.perf_counter() - t0:.0f} s in all)")
