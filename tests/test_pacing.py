"""The pacing policy on its own: a pretend clock, no network."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from zapledger.pacing import (
    SLOW_START_GAIN,
    SLOW_START_SCALE_PER_S,
    START_CONCURRENCY,
    START_RATE_PER_S,
    THROTTLE_FACTOR,
    WINDOW_HEADROOM,
    Outcome,
    Pacing,
    ServerLimits,
    ServerPacer,
)


class Clock:
    """Monotonic seconds that move only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def pacer(clock: Clock, **kw: object) -> ServerPacer:
    options: dict[str, object] = {"max_rate_per_s": None, "max_concurrency": 8}
    options.update(kw)
    return ServerPacer("s1.example:443", clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


async def answered(p: ServerPacer, clock: Clock, outcome: Outcome, latency_s: float = 0.1,
                   retry_after_s: float | None = None) -> float:  # fmt: skip
    started = await p.acquire()
    clock.t += latency_s
    p.release(started, outcome, retry_after_s)
    return started


async def test_a_new_server_starts_modest() -> None:
    p = pacer(Clock())
    assert (p.rate_per_s, p.concurrency) == (START_RATE_PER_S, START_CONCURRENCY)
    assert p.slow_start


async def test_clean_answers_grow_the_rate_while_it_holds_requests_back() -> None:
    clock = Clock()
    p = pacer(clock)
    for _ in range(10):
        await answered(p, clock, Outcome.CLEAN)
    assert p.rate_per_s > 2 * START_RATE_PER_S
    assert clock.slept, "the requests were spaced by the rate"


async def test_a_429_cuts_once_per_episode_and_blocks_until_retry_after() -> None:
    clock = Clock()
    p = pacer(clock)
    for _ in range(12):
        await answered(p, clock, Outcome.CLEAN)
    before = p.rate_per_s
    first = await p.acquire()
    second = await p.acquire()
    clock.t += 0.1
    p.release(first, Outcome.THROTTLED, 2.0)
    refused_at = clock.t
    after_one = p.rate_per_s
    p.release(second, Outcome.THROTTLED, 2.0)  # sent before the cut: same episode
    assert after_one < before and p.rate_per_s == after_one
    assert (p.refused, p.throttled) == (2, 1)
    assert not p.slow_start and p.ceiling_per_s is not None
    started = await p.acquire()
    assert started >= refused_at + 2.0


async def test_slow_start_grows_by_a_step_below_the_scale_and_by_a_share_above() -> None:
    clock = Clock()
    p = pacer(clock)
    await answered(p, clock, Outcome.CLEAN, latency_s=0.0)  # the first waited for nothing
    rates = [p.rate_per_s]
    while p.rate_per_s < 4 * SLOW_START_SCALE_PER_S:
        await answered(p, clock, Outcome.CLEAN, latency_s=0.0)
        rates.append(p.rate_per_s)
    steps = list(itertools.pairwise(rates))
    careful = [b - a for a, b in steps if b <= SLOW_START_SCALE_PER_S]
    assert careful and all(step == pytest.approx(SLOW_START_GAIN) for step in careful)
    share = SLOW_START_GAIN / SLOW_START_SCALE_PER_S
    bold = [(a, b) for a, b in steps if a >= SLOW_START_SCALE_PER_S]
    assert bold and all(b == pytest.approx(a * (1 + share)) for a, b in bold)


async def test_the_request_a_digest_challenge_asks_for_follows_without_spacing() -> None:
    clock = Clock()
    p = pacer(clock)
    await answered(p, clock, Outcome.CLEAN, latency_s=0.0)
    challenged = await p.acquire()
    assert clock.slept == [pytest.approx(1 / START_RATE_PER_S)]  # spaced from the first
    p.release(challenged, Outcome.CHALLENGE)
    answer = await p.acquire()  # the same request, now with its digest: no wait
    assert answer == challenged and len(clock.slept) == 1
    p.release(answer, Outcome.CLEAN)
    await p.acquire()  # another request: spaced again
    assert len(clock.slept) == 2


@pytest.mark.parametrize(
    ("cap", "outcome"),
    [
        (START_RATE_PER_S, Outcome.CHALLENGE),  # a user's rate cap counts every request
        (None, Outcome.NEUTRAL),  # a 401 to a stale digest: the digest was a request
    ],
    ids=["challenge-under-a-cap", "stale-digest"],
)
async def test_other_401s_are_requests_like_any_other(cap: float | None, outcome: Outcome) -> None:
    clock = Clock()
    p = pacer(clock, max_rate_per_s=cap)
    await answered(p, clock, Outcome.CLEAN, latency_s=0.0)
    refused = await p.acquire()
    p.release(refused, outcome)
    await p.acquire()
    assert clock.slept == [pytest.approx(1 / START_RATE_PER_S)] * 2


async def test_the_rate_grows_no_further_than_the_window_can_carry() -> None:
    """Two in flight at 0.1 s carry 20 requests/s: a rate far above that was never tried."""
    clock = Clock()
    p = pacer(clock, max_concurrency=2)
    for _ in range(300):  # two at a time, spaced by the rate, answered 0.1 s after the second
        pair = [await p.acquire(), await p.acquire()]
        clock.t += 0.1
        for started in pair:
            p.release(started, Outcome.CLEAN)
    carried = 2 / 0.1  # at most: every answer takes 0.1 s or more
    assert p.concurrency == 2
    assert carried < p.rate_per_s <= WINDOW_HEADROOM * carried * (1 + 1 / 8)  # one step over


async def test_a_429_estimates_the_ceiling_from_the_requests_sent_before_it() -> None:
    """Four requests a second for two seconds, answered late: the ceiling is what was sent."""
    clock = Clock()
    p = pacer(clock, max_rate_per_s=4.0, max_concurrency=20)
    p.rate_per_s, p.window = 4.0, 20.0
    sent = [await p.acquire() for _ in range(8)]  # spaced 0.25 s by the rate, none answered
    refused = await p.acquire()
    assert refused - sent[0] == pytest.approx(2.0)
    clock.t += 0.3
    p.release(refused, Outcome.THROTTLED, 1.0)
    assert p.ceiling_per_s == pytest.approx(8 / 2.0)
    assert p.rate_per_s == pytest.approx(THROTTLE_FACTOR * 4.0)
    for started in sent:
        p.release(started, Outcome.CLEAN)


async def test_a_429_ceiling_leaves_out_the_requests_refused_before_it() -> None:
    clock = Clock()
    p = pacer(clock, max_concurrency=20)
    p.rate_per_s, p.window = 5.0, 20.0
    first = [await p.acquire() for _ in range(10)]  # 1.8 s at 5/s
    clock.t += 0.3
    p.release(first[-1], Outcome.THROTTLED, 0.0)  # the first episode...
    p.release(first[-2], Outcome.THROTTLED, 0.0)  # ...which this one, sent before it, is in
    assert p.throttled == 1
    for started in first[:-2]:
        p.release(started, Outcome.CLEAN)
    second = [await p.acquire() for _ in range(4)]
    clock.t += 0.3
    p.release(second[-1], Outcome.THROTTLED, 0.0)  # a second episode
    assert p.throttled == 2
    span = second[-1] - first[0]
    assert p.ceiling_per_s == pytest.approx((10 + 3 - 2) / span)
    for started in second[:-1]:
        p.release(started, Outcome.CLEAN)


async def test_a_429_to_a_request_a_minute_cuts_the_rate_it_does_not_floor_it() -> None:
    """One status a minute says nothing of the rate a server allows: no estimate from it."""
    clock = Clock()
    p = pacer(clock)
    for _ in range(3):
        await answered(p, clock, Outcome.CLEAN)
        clock.t += 60
    rate = p.rate_per_s
    await answered(p, clock, Outcome.THROTTLED, retry_after_s=1.0)
    assert p.ceiling_per_s == pytest.approx(rate)
    assert p.rate_per_s == pytest.approx(THROTTLE_FACTOR * rate)


async def test_errors_cut_rate_and_concurrency_multiplicatively() -> None:
    clock = Clock()
    p = pacer(clock)
    for _ in range(12):
        await answered(p, clock, Outcome.CLEAN)
    rate, window = p.rate_per_s, p.window
    await answered(p, clock, Outcome.FAILED)
    assert p.rate_per_s == pytest.approx(0.7 * rate)
    assert p.window == pytest.approx(max(1.0, 0.7 * window))
    assert p.errors == 1


async def test_a_latency_jump_cuts_the_rate() -> None:
    clock = Clock()
    p = pacer(clock)
    for _ in range(12):
        await answered(p, clock, Outcome.CLEAN, latency_s=0.1)
    rate = p.rate_per_s
    for _ in range(3):
        await answered(p, clock, Outcome.CLEAN, latency_s=3.0)
    assert p.rate_per_s < rate


async def test_the_caps_are_hard_limits() -> None:
    clock = Clock()
    p = pacer(clock, max_rate_per_s=3.0, max_concurrency=2)
    for _ in range(40):
        await answered(p, clock, Outcome.CLEAN)
    assert p.rate_per_s == 3.0 and p.concurrency == 2
    held = [await p.acquire(), await p.acquire()]
    assert p.in_flight == 2
    for started in held:
        p.release(started, Outcome.CLEAN)


async def test_not_adaptive_runs_at_the_caps() -> None:
    clock = Clock()
    p = pacer(clock, max_rate_per_s=5.0, max_concurrency=3, adaptive=False)
    await answered(p, clock, Outcome.FAILED)
    assert (p.rate_per_s, p.concurrency) == (5.0, 3)


class Memory:
    def __init__(self) -> None:
        self.kept: dict[str, dict[str, ServerLimits]] = {}

    def pacing_limits(self, account: str) -> Mapping[str, ServerLimits]:
        return self.kept.get(account, {})

    def save_pacing_limits(self, account: str, limits: Mapping[str, ServerLimits]) -> None:
        self.kept.setdefault(account, {}).update(limits)


async def test_learned_limits_are_kept_and_a_new_run_starts_from_them() -> None:
    clock = Clock()
    memory = Memory()
    first = Pacing("10012345", clock=clock, sleep=clock.sleep)
    first.use_memory(memory)
    p = first.server("s18.myenergi.net")
    for _ in range(12):
        await answered(p, clock, Outcome.CLEAN)
    await answered(p, clock, Outcome.THROTTLED, retry_after_s=1.0)
    first.save()
    kept = memory.kept["10012345"]["s18.myenergi.net"]
    assert kept.rate_per_s == p.rate_per_s and kept.ceiling_per_s == p.ceiling_per_s
    second = Pacing("10012345", clock=clock, sleep=clock.sleep)
    second.use_memory(memory)
    again = second.server("s18.myenergi.net")
    assert again.rate_per_s == kept.rate_per_s and not again.slow_start
    assert second.server("s99.myenergi.net").rate_per_s == START_RATE_PER_S


def test_learned_limits_are_clamped_by_todays_caps() -> None:
    learned = ServerLimits(20.0, 10, 25.0, 0.2, datetime(2024, 1, 1, tzinfo=UTC))
    p = ServerPacer("s", max_rate_per_s=4.0, max_concurrency=3, learned=learned)
    assert (p.rate_per_s, p.concurrency) == (4.0, 3)


def test_bad_caps_are_refused() -> None:
    with pytest.raises(ValueError, match="max_rate_per_s"):
        Pacing("1", max_rate_per_s=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        Pacing("1", max_concurrency=0)
