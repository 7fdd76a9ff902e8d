"""Peak RSS of a three-year backfill (minute + hour history) with ``zapledger.backfill``.

The simulator runs in this process; the backfill runs in a child process of its own, which
reports its own peak resident set size (``VmHWM`` of ``/proc/self/status``) when done, so nothing
this process holds can leak into the figure. (``ru_maxrss`` of the child, from ``getrusage``, would
include the parent's size at the fork: Linux keeps that high-water mark across exec.)

No latency and no rate limit: memory, not time, is measured. ``--quick`` backfills 120 days; its
figure is lower than the full one, mostly because SQLite's page cache (32 MiB) is not full yet (a
sync holds only one day per worker in memory, so nothing else grows with the number of days).

Run alone: ``python bench/bench_rss.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from zapledger.simulator import Simulator

HUB = "10054321"
KEY = "bench-rss-key"
SERIAL = "16000001"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
FIRST_DAY = date(2022, 1, 1)
FULL_DAYS = 3 * 365 + 1
QUICK_DAYS = 120

CHILD = """
import asyncio, json, resource, sys, time
from datetime import date, datetime
from zapledger.client import Client
from zapledger.store import open_store
from zapledger.backfill import sync_zappi

url, db, first, last, now = sys.argv[1:6]

async def main():
    async with Client("{hub}", "{key}", director_url=url, rate_limit_per_s=None) as client:
        with open_store("sqlite:///" + db) as store:
            started = time.perf_counter()
            summary = await sync_zappi(
                client, store, "{serial}", date.fromisoformat(first), date.fromisoformat(last),
                "Europe/London", now=datetime.fromisoformat(now),
            )
            return summary, time.perf_counter() - started

def peak_kib():
    # VmHWM is the peak of this program's own memory; ru_maxrss would also count what the parent
    # had mapped when it forked us (Linux keeps it across exec)
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

summary, seconds = asyncio.run(main())
assert summary.ok, summary.failures
kib = peak_kib()
print(json.dumps({{"records": summary.records_written, "seconds": seconds, "max_rss_kib": kib}}))
"""


def backfill_rss(days: int) -> dict[str, float]:
    last = FIRST_DAY + timedelta(days=days - 1)
    script = CHILD.format(hub=HUB, key=KEY, serial=SERIAL)
    with (
        tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp,
        Simulator(seed=1, hub_serial=HUB, api_key=KEY, now=NOW) as sim,
    ):
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                sim.url,
                str(Path(tmp) / "rss.db"),
                FIRST_DAY.isoformat(),
                last.isoformat(),
                NOW.isoformat(),
            ],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ),
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"backfill child failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "rss_days": float(days),
        "rss_records": float(result["records"]),
        "rss_backfill_s": round(wall, 2),
        "rss_peak_mb": round(result["max_rss_kib"] / 1024, 1),
    }


def run(quick: bool) -> dict[str, float]:
    return backfill_rss(QUICK_DAYS if quick else FULL_DAYS)


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
