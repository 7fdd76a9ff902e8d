"""Property: no invalid argument ever reaches the network.

Whatever a caller (the CLI, a script, later MQTT) passes, an argument outside what the charger
takes is refused with :class:`CommandArgumentError` before a single request leaves the client:
the simulator counts no request at all. The invalid values are generated from the documented
ranges, not from the code under test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zapledger.client import Client
from zapledger.control import BoostTimer, Controller, LockFlags
from zapledger.exceptions import CommandArgumentError
from zapledger.simulator import Simulator

HUB, KEY = "10088888", "property-key-3321"
MODES = {"fast", "eco", "eco+", "stop"}
PHASES = {"single", "three", "auto"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, now=datetime(2024, 6, 15, 12, tzinfo=UTC)) as s:
        yield s


@pytest.fixture(scope="module")
def wired(sim: Simulator) -> Iterator[tuple[asyncio.AbstractEventLoop, Client]]:
    """One event loop and one client for all examples (a client per example costs ~0.1 s)."""
    loop = asyncio.new_event_loop()
    client = Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None)
    try:
        yield loop, client
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def not_in(low: int, high: int) -> st.SearchStrategy[Any]:
    """Anything that is not a whole number low..high (ints outside, floats, bools, text)."""
    return st.one_of(
        st.integers().filter(lambda n: not low <= n <= high),
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
    )


off_quarter = st.builds(
    time,
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
).filter(lambda t: t.minute % 15 != 0 or t.second != 0)
bad_hhmm = st.text(max_size=8).filter(
    lambda s: not re.fullmatch(r"\s*([01]?[0-9]|2[0-3]):(00|15|30|45)\s*", s)
)
bad_serial = st.text(min_size=1, max_size=14).filter(
    lambda s: not re.fullmatch(r"\s*[Zz]?[0-9]{1,12}\s*", s)
)
some_days = st.frozensets(st.sampled_from(DAYS), min_size=1)
bad_timer = st.one_of(
    st.builds(
        BoostTimer,
        st.integers().filter(lambda n: n not in (11, 12, 13, 14)),
        st.just(time(1)),
        st.just(timedelta(hours=1)),
        some_days,
    ),
    st.builds(BoostTimer, st.just(11), off_quarter, st.just(timedelta(hours=1)), some_days),
    st.builds(
        BoostTimer,
        st.just(11),
        st.just(time(1)),
        st.integers(-600, 1200)
        .filter(lambda m: m % 15 != 0 or not 0 <= m <= 8 * 60 + 45)
        .map(lambda m: timedelta(minutes=m)),
        some_days,
    ),
    st.builds(
        BoostTimer, st.just(11), st.just(time(1)), st.just(timedelta(hours=1)), st.just(frozenset())
    ),
)

#: (Controller method, positional arguments, keyword arguments), each with one invalid value.
invalid_calls = st.one_of(
    st.tuples(st.just("boost"), st.tuples(not_in(1, 99)), st.just({})),
    st.tuples(st.just("smart_boost"), st.tuples(not_in(1, 99), st.just(time(7))), st.just({})),
    st.tuples(st.just("smart_boost"), st.tuples(st.just(5), off_quarter), st.just({})),
    st.tuples(st.just("smart_boost"), st.tuples(st.just(5), bad_hhmm), st.just({})),
    st.tuples(st.just("set_min_green"), st.tuples(not_in(1, 100)), st.just({})),
    st.tuples(st.just("set_priority"), st.tuples(not_in(1, 9)), st.just({})),
    st.tuples(
        st.just("set_mode"),
        st.tuples(st.text(max_size=6).filter(lambda s: s.strip().lower() not in MODES)),
        st.just({}),
    ),
    st.tuples(
        st.just("set_phases"),
        st.tuples(st.text(max_size=6).filter(lambda s: s.strip().lower() not in PHASES)),
        st.just({}),
    ),
    st.tuples(st.just("set_locks"), st.just((LockFlags(),)), st.just({})),
    st.tuples(st.just("set_boost_timer"), st.tuples(bad_timer), st.just({})),
    st.tuples(
        st.sampled_from(["stop_boost", "boost_timers"]),
        st.just(()),
        st.fixed_dictionaries({"serial": bad_serial}),
    ),
    st.tuples(
        st.just("set_mode"), st.just(("eco",)), st.fixed_dictionaries({"serial": bad_serial})
    ),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call=invalid_calls)
def test_no_invalid_argument_reaches_the_network(
    sim: Simulator,
    wired: tuple[asyncio.AbstractEventLoop, Client],
    call: tuple[str, tuple[Any, ...], dict[str, Any]],
) -> None:
    loop, client = wired
    method, args, kwargs = call
    sim.reset_stats()

    async def attempt() -> None:
        with pytest.raises(CommandArgumentError):
            await getattr(Controller(client), method)(*args, **kwargs)

    loop.run_until_complete(attempt())
    assert client.requests_sent == 0
    assert sim.stats.total == 0
