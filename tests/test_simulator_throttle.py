"""The simulator's cloud conditions: throttle, latency (fixed or a range), history outage."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from zapledger.simulator import Simulator
from zapledger.simulator._throttle import HistoryOutage, Latency, Throttle, account_of

HUB = "10066666"
KEY = "throttle-key-2718"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = "/cgi-jday-Z16000001-2025-2-27"


def test_the_bucket_allows_its_rate_and_burst_then_says_how_long_to_wait() -> None:
    bucket = Throttle(2.0, burst=3)
    assert [bucket.take("a", now=0.0) for _ in range(3)] == [None, None, None]
    assert bucket.take("a", now=0.0) == pytest.approx(0.5)  # one token takes 1/2 s
    assert bucket.take("b", now=0.0) is None  # another account has its own bucket
    assert bucket.take("a", now=0.5) is None
    assert bucket.refused == 1
    assert Throttle.retry_after_header(0.2) == "1" and Throttle.retry_after_header(1.5) == "2"


def test_specs_parse_and_bad_ones_say_how() -> None:
    assert (Throttle.parse("3").rate_per_s, Throttle.parse("3").burst) == (3.0, 3.0)
    assert Throttle.parse("3/s,burst=5").burst == 5.0
    assert Latency.parse("300") == Latency(300.0)
    assert Latency.parse("100-900") == Latency(100.0, 900.0)
    assert HistoryOutage.parse("partial:30", NOW).end == NOW + timedelta(minutes=30)
    for bad in ("fast", "3/s,size=2", "0"):
        with pytest.raises(ValueError, match="throttle"):
            Throttle.parse(bad)
    with pytest.raises(ValueError, match="latency"):
        Latency.parse("slow")
    with pytest.raises(ValueError, match="outage"):
        HistoryOutage.parse("gone", NOW)


def test_a_latency_range_draws_within_it() -> None:
    rng = random.Random(1)
    draws = [Latency(100, 300).draw_s(rng) for _ in range(200)]
    assert 0.1 <= min(draws) < 0.15 and 0.25 < max(draws) <= 0.3
    assert Latency(250).draw_s(rng) == 0.25


def test_the_account_is_the_digest_user_name() -> None:
    assert account_of('Digest username="10066666", realm="x"') == "10066666"
    assert account_of(None) is None and account_of("Basic abc") is None


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=1, hub_serial=HUB, api_key=KEY, now=NOW) as s:
        yield s


def get(sim: Simulator, path: str) -> httpx.Response:
    with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), base_url=sim.asn_url) as http:
        return http.get(path)


def test_a_throttled_account_gets_429_with_retry_after(sim: Simulator) -> None:
    sim.throttle = Throttle(0.5, burst=1)
    assert get(sim, "/cgi-jstatus-*").status_code == 200
    refused = get(sim, "/cgi-jstatus-*")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert refused.headers["X_MYENERGI-asn"] == sim.asn
    assert sim.stats.by_status[429] == 1


def test_latency_is_added_to_every_answer(sim: Simulator) -> None:
    sim.latency = Latency(150, 200)
    started = time.monotonic()
    get(sim, "/cgi-jstatus-*")  # a challenge and the request: two answers
    assert time.monotonic() - started >= 0.3
    sim.latency_ms = 0
    assert sim.latency == Latency(0)


def test_a_history_outage_empties_or_halves_history(sim: Simulator) -> None:
    full = get(sim, DAY).json()["U16000001"]
    sim.history_outage = HistoryOutage("partial", NOW - timedelta(hours=1), NOW + timedelta(1))
    assert get(sim, DAY).json()["U16000001"] == full[: len(full) // 2]
    sim.history_outage = HistoryOutage("empty")
    assert get(sim, DAY).json() == {"U16000001": []}
    assert get(sim, "/cgi-jstatus-*").json()  # status answers are left alone
    sim.history_outage = HistoryOutage("empty", end=NOW)  # over
    assert get(sim, DAY).json()["U16000001"] == full


def test_simulate_refuses_bad_condition_options() -> None:
    from zapledger.cli import main

    assert main(["simulate", "--throttle", "fast"]) == 2
    assert main(["simulate", "--latency-ms", "slow"]) == 2
    assert main(["simulate", "--history-outage", "gone"]) == 2
