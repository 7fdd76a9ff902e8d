"""A virtual-time model of a minute backfill, for tuning :mod:`zapledger.pacing` in seconds.

The real :class:`~zapledger.pacing.ServerPacer` paces workers against a stand-in server: a token
bucket of ``rate`` requests/s (burst equal to the rate) answering 429 with ``Retry-After`` after
the latency, or no bucket at all. The event loop's clock is virtual (it jumps to the next timer),
so a 60-day backfill takes milliseconds; no HTTP, no store. Figures: throughput as a share of the
allowed rate and the share of requests refused, the worst of two seeds; not throttled, the speed-up
over one day at a time. ``bench/bench_pacing.py`` measures the real thing; this is for trying a
change across several limits before measuring it.

Run: ``python bench/model_pacing.py``.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from dataclasses import dataclass

from zapledger.pacing import Outcome, ServerPacer

LATENCY_S = 0.3
#: client time per answer (decoding, the store), for the not-throttled run
CPU_S = 0.02
START_REQUESTS = 3  # the first days go one at a time (director, then the asn server)
RATES = (1.0, 2.0, 3.0, 5.0, 8.0)


class _JumpingSelector(selectors.DefaultSelector):
    """Instead of waiting for a timer, moves the loop's clock to it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            self.now += timeout
        return super().select(0)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


@dataclass
class Run:
    seconds: float
    sent: int
    refused: int


def backfill(days: int, rate: float | None, seed: int, workers: int = 24) -> Run:
    """``days`` one-request days against a bucket of ``rate``/s (None: no throttle)."""
    rng = random.Random(seed)
    loop = _VirtualLoop()
    counts = {"sent": 0, "refused": 0}

    async def main() -> float:
        pacer = ServerPacer(
            "model", max_rate_per_s=None, max_concurrency=12, clock=loop.time, sleep=asyncio.sleep
        )
        bucket = [rate or 0.0, 0.0]  # tokens, when last counted
        cpu_free_at = [0.0]

        async def request() -> None:
            while True:
                started = await pacer.acquire()
                counts["sent"] += 1
                now = loop.time()
                if rate is not None:
                    tokens = min(rate, bucket[0] + (now - bucket[1]) * rate)
                    bucket[1] = now
                    if tokens < 1:
                        bucket[0] = tokens
                        await asyncio.sleep(LATENCY_S)
                        counts["refused"] += 1
                        pacer.release(started, Outcome.THROTTLED, max(1.0, (1 - tokens) / rate))
                        continue
                    bucket[0] = tokens - 1
                latency = LATENCY_S * rng.uniform(0.95, 1.05)
                if rate is None:  # the client's CPU, one answer at a time
                    cpu_free_at[0] = max(now + latency, cpu_free_at[0]) + CPU_S
                    latency = cpu_free_at[0] - now
                await asyncio.sleep(latency)
                pacer.release(started, Outcome.CLEAN)
                return

        t0 = loop.time()
        for _ in range(START_REQUESTS):
            await request()
        queue = list(range(days - START_REQUESTS))

        async def worker() -> None:
            while queue:
                queue.pop()
                await request()

        await asyncio.gather(*(worker() for _ in range(workers)))
        return loop.time() - t0

    try:
        seconds = loop.run_until_complete(main())
    finally:
        loop.close()
    return Run(seconds, counts["sent"], counts["refused"])


def table() -> list[str]:
    cells = []
    for rate in RATES:
        runs = [backfill(60, rate, seed) for seed in (0, 1)]
        throughput = min(100 * 60 / rate / r.seconds for r in runs)
        refused = max(100 * r.refused / r.sent for r in runs)
        cells.append(f"{rate:g}/s: {throughput:.1f} % / {refused:.1f} %")
    free = backfill(120, None, seed=0)
    cells.append(f"not throttled: {120 * (LATENCY_S + CPU_S) / free.seconds:.2f}x")
    return cells


if __name__ == "__main__":
    print(" | ".join(table()))
