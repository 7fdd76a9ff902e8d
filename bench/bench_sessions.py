"""Speed of the EV charge sessions over a month and a year of stored minutes.

``sessions()`` reads energy buckets (``Store.iter_energy``: per hour, then minute by minute only
where an hour holds EV energy or lacks minutes); the baseline, measured in the same run, is
reading the same minutes as HistoryRecords (``Store.history``), where a derivation would
naively start.
The store is the one of ``bench_report`` (minute and hour rows, an EV diverting on two days in
three and boosting every fourth night). ``python bench/bench_sessions.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_report import SERIAL, TZ, best_of, build_store
from zapledger.localtime import local_day_window
from zapledger.models import Resolution
from zapledger.ranges import resolve_range
from zapledger.sessions import MARGIN, sessions
from zapledger.store import open_store

YEAR = 2023


def _sessions(url: str, first: date, last: date) -> int:
    with open_store(url) as store:
        return len(sessions(store, first, last, TZ).sessions)


def _history(url: str, first: date, last: date) -> int:
    """Baseline: the same window of minutes read as HistoryRecords."""
    with open_store(url) as store:
        first, last = resolve_range(store, first, last, TZ)
        start = local_day_window(first, TZ)[0] - MARGIN
        end = local_day_window(last, TZ)[1] + MARGIN
        return len(store.history(SERIAL, Resolution.MINUTE, start, end))


def run(quick: bool) -> dict[str, float]:
    """Timings in seconds. ``quick``: a quarter instead of a year."""
    first = date(YEAR, 1, 1)
    last = date(YEAR, 3, 31) if quick else date(YEAR, 12, 31)
    month = (date(YEAR, 3, 1), date(YEAR, 3, 31))
    repeat = 3
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp:
        path = Path(tmp) / "sessions.sqlite3"
        results["minute_records"] = float(build_store(path, first, last))
        url = f"sqlite:///{path}"
        results["sessions_range"] = float(_sessions(url, first, last))
        results["sessions_range_s"] = best_of(lambda: _sessions(url, first, last), repeat)
        results["history_range_s"] = best_of(lambda: _history(url, first, last), repeat)
        results["sessions_month_s"] = best_of(lambda: _sessions(url, *month), repeat)
        results["history_month_s"] = best_of(lambda: _history(url, *month), repeat)
    return results


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    t0 = time.perf_counter()
    r = run(quick)
    span = "a quarter" if quick else "a year"
    print(f"{int(r['minute_records']):,} minute records, {int(r['sessions_range'])} sessions")
    for label, ours, base in (
        (f"sessions of {span}", "sessions_range_s", "history_range_s"),
        ("sessions of a month", "sessions_month_s", "history_month_s"),
    ):
        print(
            f"{label}: {r[ours] * 1000:,.0f} ms; reading the minutes as HistoryRecords "
            f"{r[base] * 1000:,.0f} ms (x{r[base] / r[ours]:.1f})"
        )
    print(f"(total {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
