"""Speed of the energy balance: reports over years of minute data, all charts of a year, --help.

Goals (docs/benchmarks.md): a yearly report over three years of minute data in SQLite < 200 ms,
all charts of a year < 3 s, ``zapledger --help`` < 300 ms. Each is printed next to a baseline
measured in the same run:

- report: the naive path, every stored minute row read into Python and summed, versus the
  report's SQL-bucketed path, once with the hourly records a sync stores next to the minutes
  (the report reads those) and once with minutes only (the database sums the minutes per hour);
- charts: the floor of matplotlib, saving as many empty figures of the same size;
- ``--help``: the interpreter starting with nothing imported.

The data is generated straight into the store as HistoryRecords (deterministic; no HTTP).
``python bench/bench_report.py [--quick]``; ``run(quick)`` returns the timings in seconds.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from zapledger.localtime import expected_records, local_day_window
from zapledger.models import History, HistoryRecord, Resolution
from zapledger.store import open_store
from zapledger.store._schema import HISTORY_TABLES

TZ = "Europe/London"
SERIAL = "12345678"
FIRST_YEAR = 2022
GOALS_S = {"report_year_s": 0.200, "charts_year_s": 3.0, "help_s": 0.300}


def _minute(ts: datetime) -> HistoryRecord:
    """One minute of a household with PV, an evening peak and an EV (joules = W x 60)."""
    seconds = int(ts.timestamp())
    hour = (seconds % 86400) / 3600
    day = seconds // 86400
    season = 0.55 + 0.45 * math.cos(2 * math.pi * (ts.timetuple().tm_yday - 172) / 365)
    gen_w = int(max(0.0, math.sin(math.pi * (hour - 6) / 12)) * 4000 * season)
    house_w = 250 + (900 if 17 <= hour < 22 else 0) + (seconds // 60) % 11 * 7
    standby_w = 4 if gen_w == 0 else 0
    diverted_w = min(max(gen_w - house_w, 0), 3600) if 10 <= hour < 15 and day % 3 else 0
    boosted_w = 7200 if 1 <= hour < 3 and day % 4 == 0 else 0
    net_w = house_w + diverted_w + boosted_w + standby_w - gen_w
    return HistoryRecord(
        ts,
        60,
        import_j=max(net_w, 0) * 60,
        export_j=max(-net_w, 0) * 60,
        generation_j=gen_w * 60,
        generation_negative_j=standby_w * 60,
        diverted_h1_j=diverted_w * 60,
        boosted_h1_j=boosted_w * 60,
        voltage_v=231.0,
        frequency_hz=50.0,
    )


def _hours(records: list[HistoryRecord]) -> list[HistoryRecord]:
    out: list[HistoryRecord] = []
    for i in range(0, len(records), 60):
        chunk = records[i : i + 60]
        out.append(
            HistoryRecord(
                chunk[0].timestamp,
                3600,
                import_j=sum(r.import_j for r in chunk),
                export_j=sum(r.export_j for r in chunk),
                generation_j=sum(r.generation_j for r in chunk),
                generation_negative_j=sum(r.generation_negative_j for r in chunk),
                diverted_h1_j=sum(r.diverted_h1_j for r in chunk),
                boosted_h1_j=sum(r.boosted_h1_j for r in chunk),
            )
        )
    return out


def build_store(path: Path, first: date, last: date) -> int:
    """Minute and hourly records of every local day, written as a sync would; returns minutes."""
    fetched = datetime.now(UTC)
    total = 0
    with open_store(f"sqlite:///{path}") as store:
        store.upsert_device(SERIAL, "zappi", "bench")
        day = first
        while day <= last:
            start, end = local_day_window(day, TZ, Resolution.MINUTE)
            n = (end - start) // timedelta(minutes=1)
            minutes = [_minute(start + timedelta(minutes=i)) for i in range(n)]
            total += n
            for resolution, records in (
                (Resolution.MINUTE, minutes),
                (Resolution.HOUR, _hours(minutes)),
            ):
                store.write_day(
                    SERIAL,
                    resolution,
                    day,
                    TZ,
                    History(SERIAL, resolution, tuple(records)),
                    expected=expected_records(day, TZ, resolution),
                    final=True,
                    fetched_at=fetched,
                )
            day += timedelta(days=1)
    return total


def _minutes_only_copy(source: Path, target: Path) -> None:
    """The same store without its hourly records: the report must sum the minutes."""
    shutil.copy(source, target)
    with sqlite3.connect(target) as db:
        db.execute(f"DELETE FROM {HISTORY_TABLES[Resolution.HOUR]}")
        db.execute("DELETE FROM sync_state WHERE resolution = 'hour'")


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _naive_sum(url: str, first: date, last: date) -> int:
    """Baseline: every stored minute row into Python, summed."""
    start = local_day_window(first, TZ)[0]
    end = local_day_window(last, TZ)[1]
    with open_store(url) as store:
        records = store.history(SERIAL, Resolution.MINUTE, start, end)
        return sum(r.import_j for r in records) + sum(r.export_j for r in records)


def _report(url: str, first: date, last: date) -> None:
    from zapledger.report import balance

    with open_store(url) as store:
        report = balance(store, first, last, TZ, period="year")
        assert report.total.coverage.complete, report.total.coverage


def _empty_figures(n: int) -> None:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for _ in range(n):
        fig = Figure(figsize=(10, 4.8), dpi=100)
        FigureCanvasAgg(fig)
        fig.add_subplot()
        fig.savefig(io.BytesIO(), format="png", pil_kwargs={"compress_level": 1})


def _charts(url: str, year: int) -> int:
    from zapledger.report import charts_of_year

    with open_store(url) as store:
        return len(charts_of_year(store, year, TZ, years=3))


def _help_s(repeat: int) -> dict[str, float]:
    """``zapledger --help`` beside ``python -c pass`` and pymyenergi's ``myenergi --help``.

    The three run interleaved, so a busy machine slows them alike; pymyenergi (the field's other
    command-line tool) comes with the ``bench`` extra and is left out when it is not installed.
    """
    exe = Path(sys.executable).with_name("zapledger")
    cmds = {
        "help_s": (
            [str(exe), "--help"]
            if exe.exists()
            else [sys.executable, "-m", "zapledger.cli", "--help"]
        ),
        "python_startup_s": [sys.executable, "-c", "pass"],
    }
    other = Path(sys.executable).with_name("myenergi")
    if other.exists():
        cmds["pymyenergi_help_s"] = [str(other), "--help"]
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(max(repeat, 5)):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    out = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}  # medians
    if "pymyenergi_help_s" in out:
        out["help_vs_pymyenergi_ratio"] = out["help_s"] / out["pymyenergi_help_s"]
    return out


def run(quick: bool) -> dict[str, float]:
    """Timings in seconds. ``quick``: one quarter of minute data instead of three years."""
    first = date(FIRST_YEAR, 1, 1)
    last = date(FIRST_YEAR, 3, 31) if quick else date(FIRST_YEAR + 2, 12, 31)
    repeat = 3 if quick else 5
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp:
        both, minutes_only = Path(tmp) / "both.sqlite3", Path(tmp) / "minutes.sqlite3"
        t0 = time.perf_counter()
        results["minute_records"] = float(build_store(both, first, last))
        results["build_store_s"] = time.perf_counter() - t0
        _minutes_only_copy(both, minutes_only)
        url_both, url_minutes = f"sqlite:///{both}", f"sqlite:///{minutes_only}"

        results["naive_sum_s"] = best_of(lambda: _naive_sum(url_both, first, last), 1)
        _report(url_both, first, last)  # warm imports and the page cache
        results["report_year_s"] = best_of(lambda: _report(url_both, first, last), repeat)
        results["report_year_minutes_only_s"] = best_of(
            lambda: _report(url_minutes, first, last), repeat
        )
        year = last.year
        _charts(url_both, year)  # warm matplotlib's import and font cache
        results["charts"] = float(_charts(url_both, year))
        results["charts_year_s"] = best_of(lambda: _charts(url_both, year), repeat)
        n = int(results["charts"])
        results["charts_floor_s"] = best_of(lambda: _empty_figures(n), repeat)
    results.update(_help_s(repeat))
    return results


def _print(results: dict[str, float], quick: bool) -> None:
    span = "one quarter" if quick else "three years"
    rows = [
        (
            f"yearly report, {span} of minutes (hourly rows stored)",
            "report_year_s",
            "naive Python sum of every minute row",
            "naive_sum_s",
        ),
        (
            f"yearly report, {span} of minutes (minutes only)",
            "report_year_minutes_only_s",
            "naive Python sum of every minute row",
            "naive_sum_s",
        ),
        (
            f"all charts of a year ({int(results['charts'])} PNGs)",
            "charts_year_s",
            "as many empty figures saved",
            "charts_floor_s",
        ),
        ("zapledger --help", "help_s", "python -c pass", "python_startup_s"),
    ]
    if "pymyenergi_help_s" in results:
        rows.append(
            ("zapledger --help", "help_s", "pymyenergi: myenergi --help", "pymyenergi_help_s")
        )
    built = results["build_store_s"]
    print(f"{int(results['minute_records']):,} minute records, built in {built:.1f} s")
    print(f"{'measure':<58} {'time':>9} {'goal':>8}   {'baseline':<38} {'time':>9} {'ratio':>7}")
    for label, key, base_label, base_key in rows:
        goal = GOALS_S.get(key.replace("_minutes_only", ""))
        goal_text = f"{goal * 1000:.0f} ms" if goal else ""
        print(
            f"{label:<58} {results[key] * 1000:>6.0f} ms {goal_text:>8}   "
            f"{base_label:<38} {results[base_key] * 1000:>6.0f} ms "
            f"{results[key] / results[base_key]:>6.2f}x"
        )


if __name__ == "__main__":
    quick_run = "--quick" in sys.argv[1:]
    _print(run(quick_run), quick_run)
