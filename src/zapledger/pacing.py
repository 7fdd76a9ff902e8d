"""Adaptive pacing: how fast, and how many at once, zapledger asks each myenergi server.

The cloud throttles and publishes no limit, so the limit is learned from the answers, the way TCP
learns a path (AIMD), one :class:`ServerPacer` per server (the director and each asn server):

- start modest (:data:`START_RATE_PER_S`, :data:`START_CONCURRENCY` in flight);
- while answers come back clean and latency stays flat, and the pacer is what holds requests back,
  grow: fast at first (slow start: by steps up to several requests a second, where a cloud that
  throttles 10-second pollers likely sets its limit, then by a share of the rate), then, once a
  throttle showed where the ceiling is, hold just under it and probe upwards slowly. The rate
  never grows far past what the window in flight can carry, so what is kept was really tried;
- on a 429, a 5xx, a timeout or a latency jump, cut rate and concurrency multiplicatively (once
  per episode: answers to requests sent before the cut don't cut again). A 429 sets the ceiling
  at the rate of the requests sent (not answered) in the seconds before the refused one, less the
  refused ones and the time spent waiting out a ``Retry-After``;
- a digest challenge to a request sent without credentials is no load: the authenticated request
  it asks for follows without spacing;
- send nothing to that server before a ``Retry-After`` has passed;
- the user's caps (``max_rate_per_s``, ``max_concurrency``) are hard limits.

The same policy serves :func:`zapledger.sync`, the collector and the CLI, which only passes caps.
What a pacer learned (:class:`ServerLimits`) can be kept in a :class:`PacingMemory` (the store
implements it) per account and server, so the next run starts from it, not from zero.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "START_CONCURRENCY",
    "START_RATE_PER_S",
    "Outcome",
    "PaceSnapshot",
    "Pacing",
    "PacingMemory",
    "ServerLimits",
    "ServerPacer",
]

#: Where a server nobody has learned anything about starts.
START_RATE_PER_S = 2.0
START_CONCURRENCY = 2
#: Never slower than this (a request every 5 minutes): a pacer must keep learning.
MIN_RATE_PER_S = 1 / 300
#: Rate added per clean answer in slow start, up to SLOW_START_SCALE_PER_S (where a cloud's limit
#: is likeliest: careful there, the rate doubles about every 1.4 s)...
SLOW_START_GAIN = 0.5
#: ...and above it, the same share of the rate per answer (1/16: it doubles every ~11 answers).
SLOW_START_SCALE_PER_S = 8.0
#: Concurrency added per clean answer while every slot is taken.
CONCURRENCY_GAIN = 1.0
#: The rate grows no further than this many times what the window can carry (window / latency).
WINDOW_HEADROOM = 2.0
#: Share of the rate added per clean answer on the way back to the plateau after an error.
RECOVER_SHARE = 0.1
#: After a throttle: run at this share of the estimated ceiling...
THROTTLE_FACTOR = 0.85
#: ...for this long with clean answers before probing above it...
HOLD_S = 30.0
#: ...and then grow by this share of the rate per second.
PROBE_PER_S = 0.01
#: 5xx and timeouts: the rate and concurrency are multiplied by this.
ERROR_FACTOR = 0.7
#: A latency jump (recent mean over this many times the usual one, and LATENCY_JUMP_S more).
LATENCY_JUMP_FACTOR = 2.5
LATENCY_JUMP_S = 0.5
#: The requests sent over this many seconds before a 429 estimate the rate the server allows...
DELIVERY_WINDOW_S = 5.0
#: ...if at least this many were sent (fewer, e.g. a status a minute, say nothing of a rate)...
MIN_SAMPLE = 4
#: ...and send times are kept this long, for a 429 that comes back late (the timeout is shorter).
KEEP_S = 120.0
#: A 429 without Retry-After blocks the server this long, doubling while they keep coming.
DEFAULT_BLOCK_S = 1.0
MAX_BLOCK_S = 300.0


class Outcome(enum.Enum):
    """How one request went, as far as pacing cares."""

    CLEAN = "clean"  # an answer (2xx, or a 4xx that is no overload)
    NEUTRAL = "neutral"  # e.g. a 401 to a stale digest: says nothing about load
    #: a 401 asking a request sent without credentials for them: the same request follows, and
    #: it is not spaced from this one (a request with credentials, even stale, counts as one)
    CHALLENGE = "challenge"
    THROTTLED = "throttled"  # 429
    FAILED = "failed"  # 5xx, timeout, connection error


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What a pacer learned of one server; the next run starts here."""

    rate_per_s: float
    concurrency: int
    #: the rate a throttle was last seen at (None: never throttled)
    ceiling_per_s: float | None
    #: usual latency in seconds (None: not measured)
    latency_s: float | None
    updated_at: datetime


class PacingMemory(Protocol):
    """Where learned limits are kept between runs, per account (hub serial) and server."""

    def pacing_limits(self, account: str) -> Mapping[str, ServerLimits]: ...

    def save_pacing_limits(self, account: str, limits: Mapping[str, ServerLimits]) -> None: ...


@dataclass(frozen=True, slots=True)
class PaceSnapshot:
    """The pacing of one server (or all, summed) at one moment: for progress and summaries."""

    rate_per_s: float
    in_flight: int
    concurrency: int
    requests: int
    refused: int
    throttled: int
    errors: int


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ServerPacer:
    """Paces the requests to one server. ``acquire`` before sending, ``release`` after."""

    def __init__(
        self,
        server: str,
        *,
        max_rate_per_s: float | None,
        max_concurrency: int,
        adaptive: bool = True,
        learned: ServerLimits | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.server = server
        self.max_rate_per_s = max_rate_per_s
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self.ceiling_per_s: float | None = None
        self.latency_s: float | None = None
        if not adaptive:
            self.rate_per_s = math.inf if max_rate_per_s is None else max_rate_per_s
            self.window = float(max_concurrency)
        elif learned is not None:
            self.rate_per_s = learned.rate_per_s
            self.window = float(learned.concurrency)
            self.ceiling_per_s = learned.ceiling_per_s
            self.latency_s = learned.latency_s
        else:
            self.rate_per_s = START_RATE_PER_S
            self.window = float(START_CONCURRENCY)
        self._clamp()
        self.slow_start = adaptive and self.ceiling_per_s is None
        self.blocked_until = -math.inf
        self.in_flight = 0
        self.requests = 0
        self.refused = 0
        self.throttled = 0
        self.errors = 0
        self._last_start = -math.inf
        self._start_before_last = -math.inf
        self._turn = asyncio.Lock()
        self._freed = asyncio.Event()
        self._waited_rate = False
        self._waited_window = False
        self._cut_at = -math.inf
        self._clean_since = clock()
        self._blocks = 0
        # send times of the last few seconds' requests, and of those refused (429)
        self._sends: deque[float] = deque()
        self._refusals: deque[float] = deque()
        # the waits for Retry-After of the last few seconds, as (start, end)
        self._blocks_seen: deque[tuple[float, float]] = deque()
        self._first_at: float | None = None
        self._recent_latency_s: float | None = None

    def _clamp(self) -> None:
        cap = math.inf if self.max_rate_per_s is None else self.max_rate_per_s
        floor = min(MIN_RATE_PER_S, cap)
        self.rate_per_s = max(floor, min(cap, self.rate_per_s))
        self.window = max(1.0, min(float(self.max_concurrency), self.window))

    @property
    def _unspaced_ok(self) -> bool:
        """Whether a challenge's request may follow it unspaced: not under the user's rate cap,
        which counts every request on the wire."""
        return self.adaptive and self.max_rate_per_s is None

    @property
    def concurrency(self) -> int:
        return int(self.window)

    def snapshot(self) -> PaceSnapshot:
        return PaceSnapshot(
            self.rate_per_s,
            self.in_flight,
            self.concurrency,
            self.requests,
            self.refused,
            self.throttled,
            self.errors,
        )

    def limits(self) -> ServerLimits:
        return ServerLimits(
            self.rate_per_s,
            self.concurrency,
            self.ceiling_per_s,
            self.latency_s,
            datetime.now(UTC),
        )

    async def acquire(self) -> float:
        """Wait for a turn (FIFO): past any ``Retry-After``, a free slot, the rate's spacing.

        Returns the start time to hand back to :meth:`release`.
        """
        async with self._turn:
            while True:
                now = self._clock()
                if self.blocked_until > now:
                    await self._sleep(self.blocked_until - now)
                    continue
                if self.in_flight >= self.concurrency:
                    self._waited_window = True
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                ready = self._last_start + 1.0 / self.rate_per_s
                if ready > now:
                    self._waited_rate = True
                    await self._sleep(ready - now)
                    continue
                break
            started = self._clock()
            self._start_before_last, self._last_start = self._last_start, started
            self.in_flight += 1
            self.requests += 1
            if self._first_at is None:
                self._first_at = started
            self._sends.append(started)
            while self._sends[0] < started - KEEP_S:
                self._sends.popleft()
            return started

    def release(self, started: float, outcome: Outcome, retry_after_s: float | None = None) -> None:
        """Learn from how the request sent at ``started`` went."""
        now = self._clock()
        self.in_flight -= 1
        self._freed.set()
        if outcome is Outcome.CHALLENGE and started == self._last_start and self._unspaced_ok:
            self._last_start = self._start_before_last
        if outcome is Outcome.CLEAN:
            self._blocks = 0
            self._clean(now, now - started)
        elif outcome is Outcome.THROTTLED:
            self.refused += 1
            self._refusals.append(started)
            while self._refusals[0] < now - KEEP_S:
                self._refusals.popleft()
            self._cut(now, started, throttle=True)
        elif outcome is Outcome.FAILED:
            self.errors += 1
            self._cut(now, started, throttle=False)
        # after the cut, which measures the time since the last block ended
        if retry_after_s is not None or outcome is Outcome.THROTTLED:
            self._block(now, outcome, retry_after_s)

    def _block(self, now: float, outcome: Outcome, retry_after_s: float | None) -> None:
        if retry_after_s is None:
            retry_after_s = min(MAX_BLOCK_S, DEFAULT_BLOCK_S * 2.0**self._blocks)
            self._blocks += 1
        until = now + retry_after_s
        if self._blocks_seen and self._blocks_seen[-1][1] >= now:
            start, end = self._blocks_seen.pop()
            self._blocks_seen.append((start, max(end, until)))
        else:
            self._blocks_seen.append((now, until))
        while self._blocks_seen[0][1] < now - KEEP_S:
            self._blocks_seen.popleft()
        self.blocked_until = max(self.blocked_until, until)

    def _clean(self, now: float, latency_s: float) -> None:
        if self._latency_jumped(latency_s):
            self._cut(now, now - latency_s, throttle=False, factor=THROTTLE_FACTOR)
            return
        if not self.adaptive:
            return
        if self._waited_window:
            self._waited_window = False
            self.window += CONCURRENCY_GAIN if self.slow_start else CONCURRENCY_GAIN / self.window
        if self._waited_rate and self._window_carries_more():
            self._waited_rate = False
            plateau = None if self.ceiling_per_s is None else THROTTLE_FACTOR * self.ceiling_per_s
            if self.slow_start:
                self.rate_per_s += self._slow_start_gain()
            elif plateau is not None and self.rate_per_s < plateau:
                self.rate_per_s = min(plateau, self.rate_per_s * (1 + RECOVER_SHARE))
            elif now - self._clean_since >= HOLD_S:
                gap_s = min(1.0, 1.0 / self.rate_per_s)
                self.rate_per_s *= 1.0 + PROBE_PER_S * gap_s
        self._clamp()

    def _window_carries_more(self) -> bool:
        """Whether the window could carry more than the rate allows: only then may the rate grow.

        A rate the window never lets happen proves nothing, and learned and kept it would let the
        next run burst at it (TCP's congestion window validation).
        """
        if self.latency_s is None or self.latency_s <= 0:
            return True
        return self.rate_per_s < WINDOW_HEADROOM * self.window / self.latency_s

    def _slow_start_gain(self) -> float:
        return SLOW_START_GAIN * max(1.0, self.rate_per_s / SLOW_START_SCALE_PER_S)

    def _latency_jumped(self, latency_s: float) -> bool:
        """Track the usual and the recent latency; True when the recent one jumped."""
        usual = self.latency_s
        recent = self._recent_latency_s
        self._recent_latency_s = latency_s if recent is None else 0.7 * recent + 0.3 * latency_s
        if usual is None:
            self.latency_s = latency_s
            return False
        self.latency_s = 0.95 * usual + 0.05 * latency_s
        recent = self._recent_latency_s
        jumped = recent > usual * LATENCY_JUMP_FACTOR and recent - usual > LATENCY_JUMP_S
        if jumped:
            self._recent_latency_s = self.latency_s  # one cut per jump
        return self.adaptive and jumped

    def _delivered_per_s(self, until: float) -> float | None:
        """The rate the server allowed just before ``until`` (None: too soon or too few to say).

        Requests sent in the last few seconds before ``until`` and not refused, per second of
        that time not spent waiting out a ``Retry-After`` (a wait that held requests back, not the
        server). Counted by when they were sent, not answered, so slow answers do not hide them.
        An overestimate by a server's burst, which the cut (to :data:`THROTTLE_FACTOR`) absorbs.
        """
        since = self._first_at if self._first_at is not None else until
        start = max(since, until - DELIVERY_WINDOW_S)
        waited = sum(
            max(0.0, min(end, until) - max(begin, start)) for begin, end in self._blocks_seen
        )
        span = until - start - waited
        sent = sum(1 for t in self._sends if start <= t < until)
        if span < 1.0 or sent < MIN_SAMPLE:
            return None
        refused = sum(1 for t in self._refusals if start <= t < until)
        return (sent - refused) / span

    def _cut(
        self, now: float, started: float, *, throttle: bool, factor: float = ERROR_FACTOR
    ) -> None:
        if not self.adaptive or started < self._cut_at:
            return  # sent before the last cut: the same episode
        self._cut_at = now
        self._clean_since = now
        # after errors alone the ceiling is still unknown: grow fast again (TCP's slow start)
        self.slow_start = not throttle and self.ceiling_per_s is None
        if throttle:
            self.throttled += 1
            sent = self.rate_per_s
            delivered = self._delivered_per_s(started)
            ceiling = sent if delivered is None else min(sent, delivered)
            self.ceiling_per_s = ceiling
            self.rate_per_s = THROTTLE_FACTOR * ceiling
            self.window *= THROTTLE_FACTOR
        else:
            self.rate_per_s *= factor
            self.window *= factor
        self._clamp()


class Pacing:
    """The pacers of one account's servers, with the user's caps and the learned limits."""

    def __init__(
        self,
        account: str,
        *,
        max_rate_per_s: float | None = None,
        max_concurrency: int = 8,
        adaptive: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_rate_per_s is not None and not max_rate_per_s > 0:
            raise ValueError("max_rate_per_s must be positive (or None for no cap)")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.account = account
        self.max_rate_per_s = max_rate_per_s
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._pacers: dict[str, ServerPacer] = {}
        self._learned: dict[str, ServerLimits] = {}
        self._memory: PacingMemory | None = None

    def server(self, name: str) -> ServerPacer:
        """The pacer of server ``name`` (``host[:port]``), made on first use."""
        pacer = self._pacers.get(name)
        if pacer is None:
            pacer = ServerPacer(
                name,
                max_rate_per_s=self.max_rate_per_s,
                max_concurrency=self.max_concurrency,
                adaptive=self.adaptive,
                learned=self._learned.get(name),
                clock=self._clock,
                sleep=self._sleep,
            )
            self._pacers[name] = pacer
        return pacer

    @property
    def servers(self) -> Mapping[str, ServerPacer]:
        return dict(self._pacers)

    def use_memory(self, memory: PacingMemory) -> None:
        """Start servers not met yet from what ``memory`` kept; :meth:`save` writes back there."""
        self._memory = memory
        self._learned = dict(memory.pacing_limits(self.account))
        for name, pacer in list(self._pacers.items()):
            if not pacer.requests:  # not started yet: start it from what was learned
                del self._pacers[name]

    def learned(self) -> dict[str, ServerLimits]:
        """What is known now: the learned limits, updated by the servers met in this run."""
        out = dict(self._learned)
        for name, pacer in self._pacers.items():
            if pacer.requests:
                out[name] = pacer.limits()
        return out

    def save(self) -> None:
        """Keep what the servers met in this run taught (no-op without a memory)."""
        if self._memory is None or not self.adaptive:
            return
        fresh = {n: p.limits() for n, p in self._pacers.items() if p.requests}
        if fresh:
            self._memory.save_pacing_limits(self.account, fresh)
            self._learned.update(fresh)

    def snapshot(self) -> PaceSnapshot:
        """All servers together: rate and concurrency of the busiest, counts summed."""
        pacers = list(self._pacers.values())
        if not pacers:
            return PaceSnapshot(0.0, 0, 0, 0, 0, 0, 0)
        busiest = max(pacers, key=lambda p: p.requests)
        return PaceSnapshot(
            busiest.rate_per_s,
            sum(p.in_flight for p in pacers),
            busiest.concurrency,
            sum(p.requests for p in pacers),
            sum(p.refused for p in pacers),
            sum(p.throttled for p in pacers),
            sum(p.errors for p in pacers),
        )

    def min_interval_s(self) -> float:
        """The shortest interval between two requests the learned rates allow (collector)."""
        rates = [p.rate_per_s for p in self._pacers.values()]
        rates += [limits.rate_per_s for limits in self._learned.values()]
        slowest = min(rates, default=math.inf)
        return 0.0 if math.isinf(slowest) else 1.0 / slowest

    def blocked_for_s(self) -> float:
        """How long the most recently throttled server still refuses to be asked."""
        now = self._clock()
        return max((p.blocked_until - now for p in self._pacers.values()), default=0.0)
