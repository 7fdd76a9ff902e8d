"""Pacing: minute backfills against a cloud that throttles and one that does not, 300 ms latency.

- *throttled*: the simulator's token bucket allows 3 requests/s per account (burst 3) and answers
  ``429`` with ``Retry-After`` beyond that. ``sync`` of 60 minute-days (``--quick``: 30) starts
  from nothing learned. Figures: days and rows stored, throughput as a share of the allowed one
  (days / 3 per s is the ideal time), the share of requests refused; then a second run into a
  fresh database that starts from the limits the first one learned.
- *not throttled*: 120 minute-days (``--quick``: 40); ``sync`` against the sequential
  one-day-at-a-time fetch-and-store (zapledger's client, one request at a time, no pacing), in the
  same run, against the same simulator. That simulator runs in a process of its own
  (``python -m zapledger.simulator``), as the cloud runs on machines of its own: in this process
  its threads would take the interpreter lock from the client, which then measures the stand-in's
  CPU and not the pacing. (Throttled, the throttle sets the pace and the simulator stays in this
  process, whose counters give the refusals.)

Both as a library call (:func:`zapledger.sync`) and through the CLI
(``zapledger sync --minute --from … --to …``), which only passes caps: the figures should agree
(one policy).

Run alone: ``python bench/bench_pacing.py [--quick] [--only throttled|free]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from zapledger.backfill import sync
from zapledger.cli import main as cli_main
from zapledger.client import Client
from zapledger.models import Resolution
from zapledger.simulator import Simulator
from zapledger.store import open_store

HUB = "10012345"
KEY = "bench-key-not-secret"
SERIAL = "16000001"
TZ = "Europe/London"
LATENCY_MS = 300
THROTTLE_PER_S = 3.0
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
#: winter days: a local day is one UTC day, one request
FIRST_DAY = date(2024, 11, 1)
THROTTLED_DAYS, QUICK_THROTTLED_DAYS = 60, 30
FREE_DAYS, QUICK_FREE_DAYS = 120, 40


def _throttling_simulator() -> Simulator:
    """The throttling simulator, in this process (its counters give the refusals)."""
    return Simulator(
        seed=1,
        hub_serial=HUB,
        api_key=KEY,
        now=NOW,
        latency_ms=LATENCY_MS,
        throttle=f"{THROTTLE_PER_S:g}",
    )


@contextlib.contextmanager
def _simulator_process() -> Iterator[str]:
    """The not-throttling simulator in a process of its own: its director URL."""
    args = ["--seed", "1", "--hub-serial", HUB, "--api-key", KEY, "--now", NOW.isoformat()]
    args += ["--latency-ms", str(LATENCY_MS)]
    with subprocess.Popen(
        [sys.executable, "-m", "zapledger.simulator", *args],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline().split()
            if first[:1] != ["director"]:
                raise RuntimeError(f"the simulator did not start: {first}")
            yield first[1]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _last(days: int) -> date:
    return FIRST_DAY + timedelta(days=days - 1)


def _rows(db: Path) -> int:
    with open_store(f"sqlite:///{db}") as store:
        return store.count_history(SERIAL, Resolution.MINUTE)


async def library_sync(url: str, db: Path, days: int) -> dict[str, float]:
    """``zapledger.sync`` with the client's defaults: seconds, days, requests, refusals."""
    async with Client(HUB, KEY, director_url=url) as client:
        with open_store(f"sqlite:///{db}") as store:
            started = time.perf_counter()
            report = await sync(
                store,
                FIRST_DAY,
                _last(days),
                TZ,
                client=client,
                serial=SERIAL,
                resolutions=[Resolution.MINUTE],
                now=NOW,
            )
            (summary,) = report.summaries
            elapsed = time.perf_counter() - started
    return {
        "s": elapsed,
        "days": float(summary.days_written),
        "failed": float(len(summary.failures)),
        "requests": float(summary.requests),
        "refused": float(summary.refused),
        "throttled": float(summary.throttled),
        "rate": summary.rate_per_s,
    }


@contextlib.contextmanager
def _cli_env(url: str, db: Path) -> Iterator[None]:
    env = {
        "ZAPLEDGER_DIRECTOR_URL": url,
        "ZAPLEDGER_HUB_SERIAL": HUB,
        "ZAPLEDGER_API_KEY": KEY,
        "ZAPLEDGER_DB": f"sqlite:///{db}",
        "ZAPLEDGER_TZ": TZ,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cli_sync(url: str, db: Path, days: int) -> dict[str, float]:
    """``zapledger sync --minute`` in-process: seconds and exit code."""
    args = ["sync", "--minute", "--from", str(FIRST_DAY), "--to", str(_last(days))]
    out = io.StringIO()
    with _cli_env(url, db), contextlib.redirect_stdout(out):
        started = time.perf_counter()
        code = cli_main(args)
        elapsed = time.perf_counter() - started
    return {"s": elapsed, "exit": float(code)}


def counted_cli_sync(sim: Simulator, db: Path, days: int) -> dict[str, float]:
    """:func:`cli_sync` against an in-process simulator, with its request and refusal counts."""
    sim.reset_stats()
    refused_before = sim.throttle.refused if sim.throttle else 0
    out = cli_sync(sim.url, db, days)
    refused = (sim.throttle.refused if sim.throttle else 0) - refused_before
    return out | {"requests": float(sim.stats.total), "refused": float(refused)}


async def sequential(url: str, db: Path, days: int) -> float:
    """One minute day at a time, stored before the next is asked: seconds."""
    async with Client(
        HUB, KEY, director_url=url, adaptive=False, rate_limit_per_s=None, max_concurrency=1
    ) as client:
        with open_store(f"sqlite:///{db}") as store:
            started = time.perf_counter()
            for i in range(days):
                history = await client.minute_history(SERIAL, FIRST_DAY + timedelta(days=i))
                store.upsert_history(SERIAL, Resolution.MINUTE, history.records)
            return time.perf_counter() - started


def throttled(tmp: Path, days: int) -> dict[str, float]:
    ideal_s = days / THROTTLE_PER_S
    out: dict[str, float] = {"pacing_throttled_days": float(days), "pacing_ideal_s": ideal_s}
    with _throttling_simulator() as sim:
        lib = asyncio.run(library_sync(sim.url, tmp / "lib.db", days))
        out["pacing_throttled_lib_s"] = round(lib["s"], 2)
        out["pacing_throttled_lib_days_stored"] = lib["days"]
        out["pacing_throttled_lib_failed_days"] = lib["failed"]
        out["pacing_throttled_lib_rows"] = float(_rows(tmp / "lib.db"))
        out["pacing_throttled_lib_throughput_pct"] = round(100 * ideal_s / lib["s"], 1)
        out["pacing_throttled_lib_refused_pct"] = round(100 * lib["refused"] / lib["requests"], 1)
        out["pacing_throttled_lib_throttled"] = lib["throttled"]
        out["pacing_throttled_lib_end_rate_per_s"] = round(lib["rate"], 2)
        # again into a fresh database that holds only what the first run learned
        learned = tmp / "learned.db"
        with open_store(f"sqlite:///{tmp / 'lib.db'}") as first:
            limits = first.pacing_limits(HUB)
        with open_store(f"sqlite:///{learned}") as fresh:
            fresh.save_pacing_limits(HUB, limits)
        time.sleep(1.5)  # let the bucket fill up again between runs
        again = asyncio.run(library_sync(sim.url, learned, days))
        out["pacing_throttled_learned_s"] = round(again["s"], 2)
        out["pacing_throttled_learned_throughput_pct"] = round(100 * ideal_s / again["s"], 1)
        out["pacing_throttled_learned_refused_pct"] = round(
            100 * again["refused"] / again["requests"], 1
        )
        time.sleep(1.5)  # let the bucket fill up again between runs
        cli = counted_cli_sync(sim, tmp / "cli.db", days)
        out["pacing_throttled_cli_s"] = round(cli["s"], 2)
        out["pacing_throttled_cli_exit"] = cli["exit"]
        out["pacing_throttled_cli_rows"] = float(_rows(tmp / "cli.db"))
        out["pacing_throttled_cli_throughput_pct"] = round(100 * ideal_s / cli["s"], 1)
        out["pacing_throttled_cli_refused_pct"] = round(100 * cli["refused"] / cli["requests"], 1)
    return out


def not_throttled(tmp: Path, days: int) -> dict[str, float]:
    out: dict[str, float] = {"pacing_free_days": float(days)}
    with _simulator_process() as url:
        seq_s = asyncio.run(sequential(url, tmp / "seq.db", days))
        lib = asyncio.run(library_sync(url, tmp / "free-lib.db", days))
        cli = cli_sync(url, tmp / "free-cli.db", days)
    out["pacing_free_sequential_s"] = round(seq_s, 2)
    out["pacing_free_lib_s"] = round(lib["s"], 2)
    out["pacing_free_cli_s"] = round(cli["s"], 2)
    out["pacing_free_cli_exit"] = cli["exit"]
    out["pacing_free_lib_ratio"] = round(seq_s / lib["s"], 2)
    out["pacing_free_cli_ratio"] = round(seq_s / cli["s"], 2)
    out["pacing_free_lib_end_rate_per_s"] = round(lib["rate"], 2)
    return out


def run(quick: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp:
        out = throttled(Path(tmp), QUICK_THROTTLED_DAYS if quick else THROTTLED_DAYS)
        out |= not_throttled(Path(tmp), QUICK_FREE_DAYS if quick else FREE_DAYS)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="half the days")
    parser.add_argument("--only", choices=["throttled", "free"], help="one half of the benchmark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp_dir:
        if args.only == "throttled":
            days = QUICK_THROTTLED_DAYS if args.quick else THROTTLED_DAYS
            result = throttled(Path(tmp_dir), days)
        elif args.only == "free":
            result = not_throttled(Path(tmp_dir), QUICK_FREE_DAYS if args.quick else FREE_DAYS)
        else:
            result = run(args.quick)
    print(json.dumps(result, indent=2))
