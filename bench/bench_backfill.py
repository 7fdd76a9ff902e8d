"""Backfill: minute + hour history of many days from the simulator, 100 ms latency per request.

Side by side in one run, against one simulator (frozen clock, so both see the same data):

- *sequential*: the way existing tools do it: for each UTC day, ask ``cgi-jday`` and store it,
  then ``cgi-jdayhour`` and store it, one request at a time (zapledger's client with no rate
  limit and one connection, so only the strategy differs);
- *zapledger sync* with the client's default, adaptive pacing (:mod:`zapledger.pacing`: starts at
  2 requests/s and 2 in flight, grows while answers are clean, up to 12 in flight), and the same
  sync at fixed rates (pacing off, 4 in flight), to show what the rate buys.

Every run writes into its own SQLite file. ``--quick`` backfills 20 days instead of 365; the
ratio of a short run flatters no one (fixed costs weigh on both), but it is not the full figure.

Run alone: ``python bench/bench_backfill.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from zapledger.backfill import sync_zappi
from zapledger.client import Client
from zapledger.models import Resolution
from zapledger.simulator import Simulator
from zapledger.store import open_store

HUB = "10012345"
KEY = "bench-key-not-secret"
SERIAL = "16000001"
TZ = "Europe/London"
LATENCY_MS = 100
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
FIRST_DAY = date(2024, 1, 1)
FULL_DAYS = 365
QUICK_DAYS = 20
#: Other rates run for comparison: the client's general default, and one in between.
FAST_RATES = (2.0, 10.0)
QUICK_FAST_RATES = (2.0,)


class SendCounter(httpx.AsyncBaseTransport):
    """The real transport, noting when each request leaves the client (after the rate limiter).

    The simulator stamps arrivals on its handler threads, which share this process's GIL, so
    its count can hold one request more than was sent in a second; this is the client's side.
    """

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(time.monotonic())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def max_per_second(self) -> int:
        """The most requests sent within any 1-second window."""
        most, first = 0, 0
        for last, t in enumerate(self.sent):
            while t - self.sent[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most


async def sequential(sim: Simulator, db: Path, days: int) -> tuple[float, int, int]:
    """One request at a time, store after each: (seconds, records, requests)."""
    records = 0
    async with Client(
        HUB, KEY, director_url=sim.url, rate_limit_per_s=None, max_concurrency=1
    ) as client:
        with open_store(f"sqlite:///{db}") as store:
            started = time.perf_counter()
            for i in range(days):
                day = FIRST_DAY + timedelta(days=i)
                minutes = await client.minute_history(SERIAL, day)
                records += len(minutes.records)
                store.upsert_history(SERIAL, Resolution.MINUTE, minutes.records)
                hours = await client.hour_history(SERIAL, day)
                records += len(hours.records)
                store.upsert_history(SERIAL, Resolution.HOUR, hours.records)
            elapsed = time.perf_counter() - started
        return elapsed, records, client.requests_sent


async def zapledger_sync(
    sim: Simulator, db: Path, days: int, rate: float | None
) -> tuple[float, int, int, int]:
    """``sync`` with the adaptive default (``rate=None``) or at a fixed rate.

    Returns seconds, records, requests and the most requests the client sent in any second.
    """
    counter = SendCounter()
    if rate is None:
        client = Client(HUB, KEY, director_url=sim.url, transport=counter)
    else:
        client = Client(
            HUB,
            KEY,
            director_url=sim.url,
            transport=counter,
            rate_limit_per_s=rate,
            max_concurrency=4,
            adaptive=False,
        )
    async with client:
        with open_store(f"sqlite:///{db}") as store:
            started = time.perf_counter()
            summary = await sync_zappi(
                client,
                store,
                SERIAL,
                FIRST_DAY,
                FIRST_DAY + timedelta(days=days - 1),
                TZ,
                now=NOW,
            )
            elapsed = time.perf_counter() - started
    assert summary.ok, summary.failures
    return elapsed, summary.records_written, client.requests_sent, counter.max_per_second()


def run(quick: bool) -> dict[str, float]:
    days = QUICK_DAYS if quick else FULL_DAYS
    rates = QUICK_FAST_RATES if quick else FAST_RATES
    out: dict[str, float] = {"backfill_days": float(days), "backfill_latency_ms": LATENCY_MS}
    with (
        tempfile.TemporaryDirectory(prefix="zapledger-bench-") as tmp,
        Simulator(seed=1, hub_serial=HUB, api_key=KEY, now=NOW, latency_ms=LATENCY_MS) as sim,
    ):
        seq_s, seq_records, seq_requests = asyncio.run(sequential(sim, Path(tmp) / "seq.db", days))
        out["backfill_sequential_s"] = round(seq_s, 2)
        out["backfill_sequential_requests"] = float(seq_requests)
        out["backfill_sequential_max_req_per_s"] = float(sim.stats.max_per_second)
        for label, rate in (("default", None), *((f"rate{r:g}", r) for r in rates)):
            sim.reset_stats()
            db = Path(tmp) / f"sync-{label}.db"
            sync_s, records, requests, sent_max = asyncio.run(zapledger_sync(sim, db, days, rate))
            out[f"backfill_sync_{label}_records"] = float(records)
            out[f"backfill_sync_{label}_s"] = round(sync_s, 2)
            out[f"backfill_sync_{label}_requests"] = float(requests)
            out[f"backfill_sync_{label}_max_req_per_s"] = float(sim.stats.max_per_second)
            out[f"backfill_sync_{label}_client_max_req_per_s"] = float(sent_max)
            out[f"backfill_ratio_{label}"] = round(seq_s / sync_s, 2)
        out["backfill_records"] = float(seq_records)
    out["backfill_ratio"] = out["backfill_ratio_default"]
    return out


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
