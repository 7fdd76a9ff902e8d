"""The cloud client against the simulator: a real HTTP server on 127.0.0.1 with digest auth.

One fake cloud only: every case that crosses HTTP runs against ``zapledger.simulator`` and its
scripted controls (forced faults, scripted answers, refusals and account moves), which speaks
the wire format on its own. Only pure helpers (asn parsing, Retry-After parsing, the rate
limiter, argument checks) are tested without it. Retries run in stamina's test mode (no waits)
unless a test measures the waits themselves.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time as wallclock
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import stamina
import stamina.instrumentation

import zapledger
from zapledger._http import (
    GARBLED_ATTEMPTS,
    MAX_MOVES,
    _retry_after_s,
    server_from_asn,
)
from zapledger.client import Client
from zapledger.config import Secret
from zapledger.exceptions import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    CloudConnectionError,
    CloudTimeoutError,
    CommandError,
    ConfigError,
    RateLimitedError,
    ServerError,
)
from zapledger.models import Resolution
from zapledger.pacing import Outcome, ServerPacer
from zapledger.simulator import Answer, AsnHeader, Faults, QuirkRates, Simulator

FIXTURES = Path(__file__).parent / "fixtures"
HUB = "10088888"
KEY = "Sup3rSecretApiKey-4711"
ZAPPI, ZAPPI2 = "12345678", "12345679"
#: The simulator's frozen clock: every day below is complete in its past.
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
STATUS = "/cgi-jstatus-*"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def history_payload(serial: str, start: datetime, count: int, step_s: int, **skip: Any) -> bytes:
    """Wire records for ``count`` periods from ``start``: zero keys omitted, ``hr``/``min`` too."""
    missing: set[int] = set(skip.get("missing", ()))
    records = []
    for i in range(count):
        if i in missing:
            continue
        ts = start + timedelta(seconds=i * step_s)
        r: dict[str, Any] = {"yr": ts.year, "mon": ts.month, "dom": ts.day, "dow": "Mon"}
        if ts.hour:
            r["hr"] = ts.hour
        if ts.minute:
            r["min"] = ts.minute
        r["imp"] = 1000 + i
        if i % 2:
            r["gep"] = 500
        records.append(r)
    return json.dumps({f"U{serial}": records}).encode()


def new_sim(**kw: Any) -> Simulator:
    kw.setdefault("zappi_serials", (ZAPPI, ZAPPI2))
    kw.setdefault("api_key", KEY)
    return Simulator(hub_serial=HUB, now=NOW, quirk_rates=QuirkRates.none(), asn_servers=5, **kw)


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries keep their attempt counts but do not wait."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with new_sim() as s:
        yield s


def make_client(sim: Simulator, **kw: Any) -> Client:
    kw.setdefault("rate_limit_per_s", None)
    kw.setdefault("adaptive", False)  # fixed caps: these tests are about the wire, not pacing
    kw.setdefault("timeout_s", 10)
    return Client(HUB, KEY, director_url=sim.url, **kw)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with make_client(sim) as c:
        yield c


def authorized_paths(sim: Simulator) -> list[str]:
    return [r.path for r in sim.requests if r.authorized]


async def warm(client: Client, sim: Simulator) -> None:
    """Discover the server first, then forget the requests it took."""
    await client.app_names()
    sim.clear_requests()


class SendTimes(httpx.AsyncHTTPTransport):
    """The real transport to the simulator, noting when each wire request leaves the limiter.

    Times taken here are free of the scheduling jitter between the client and the server's
    threads, so the limiter's spacing can be checked exactly.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(wallclock.monotonic())
        return await super().handle_async_request(request)


# --- discovery -------------------------------------------------------------------------------


async def test_first_request_goes_to_the_director_then_to_the_asn(sim: Simulator) -> None:
    async with make_client(sim) as client:
        assert client.base_url == sim.url
        await client.site_status()
        assert client.base_url == sim.asn_url == f"http://{sim.servers['asn1']}"
        await client.site_status()
    seen = sim.requests
    assert seen[0].server == "director" and seen[0].path == STATUS
    assert seen[-1].server == "asn1"


async def test_asn_keeps_the_scheme_and_takes_host_and_port(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        assert client.base_url == f"http://127.0.0.1:{sim.servers['asn1'].split(':')[1]}"
        await client.app_names()
    assert f"{sim.requests[-1].server}:{sim.requests[-1].port}" == "asn1:" + sim.asn.split(":")[1]
    assert sim.asn in repr(client)


def test_server_from_asn() -> None:
    base = httpx.URL("http://127.0.0.1:4000")
    assert str(server_from_asn(base, "s18.myenergi.net")) == "http://s18.myenergi.net"
    assert str(server_from_asn(base, " 127.0.0.1:5678 ")) == "http://127.0.0.1:5678"
    https = httpx.URL("https://director.myenergi.net")
    assert str(server_from_asn(https, "s7.myenergi.net")) == "https://s7.myenergi.net"
    for junk in (None, "", "undefined", "UNDEFINED", "a/b", "host:99999", "x y", "-bad"):
        assert server_from_asn(base, junk) is None


async def test_asn_header_is_case_insensitive(sim: Simulator) -> None:
    sim.plan.asn_header = AsnHeader(name="x_myenergi-ASN")
    async with make_client(sim) as client:
        await client.site_status()
        assert client.base_url == sim.asn_url


@pytest.mark.parametrize("value", ["undefined", ""])
async def test_undefined_or_empty_asn_is_ignored(sim: Simulator, value: str) -> None:
    sim.plan.asn_header = AsnHeader(value=value)
    async with make_client(sim) as client:
        await client.site_status()
        assert client.base_url == sim.url
    assert {r.server for r in sim.requests} == {"director"}


async def test_asn_on_the_digest_challenge_is_followed(sim: Simulator) -> None:
    """Only the 401 challenge names the server; the director's 200 does not."""
    sim.answer(Answer(None, None, asn=AsnHeader(name=None)), count=None, path_contains=STATUS)
    async with make_client(sim) as client:
        await client.site_status()
        assert client.base_url == sim.asn_url


async def test_director_refusing_with_an_asn_is_retried_on_that_server(sim: Simulator) -> None:
    sim.plan.director_refuses = True
    async with make_client(sim) as client:
        status = await client.site_status()
    assert [z.serial for z in status.zappis] == [ZAPPI, ZAPPI2]
    last = sim.requests[-1]
    assert last.server == "asn1" and last.authorized


async def test_account_moving_mid_run_is_followed(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        assert client.base_url == sim.asn_url
        moved = sim.move_account()  # the old server now answers 401 naming the new one
        await client.zappi_status(ZAPPI)
        assert client.base_url == f"http://{moved}" == f"http://{sim.servers['asn2']}"
        sim.clear_requests()
        await client.zappi_status(ZAPPI)
    assert {r.server for r in sim.requests} == {"asn2"}


async def test_an_account_moving_again_during_the_move_is_followed(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        sim.move_account()
        sim.plan.move_on_refusal(2)
        await client.app_names()
        assert sim.asn == sim.servers["asn4"]
        assert client.base_url == sim.asn_url
    assert sim.plan.refusal_moves_left == 0


async def test_following_moves_is_bounded(sim: Simulator) -> None:
    async with make_client(sim, max_attempts=2) as client:
        await client.site_status()
        sim.move_account()
        sim.plan.move_on_refusal(27)
        with pytest.raises(AuthenticationError, match="kept moving"):
            await client.app_names()
    # each attempt sends to the server it had and to MAX_MOVES new ones, then backs off; every
    # send is refused twice (the stale digest, then the answer to the fresh challenge)
    assert sim.plan.refusal_moves_left == 27 - 2 * 2 * (1 + MAX_MOVES)


async def test_asn_changing_on_a_200_moves_the_next_request(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        sim.plan.move_after_next(STATUS)
        await client.site_status()
        assert sim.requests[-1].server == "asn1"  # answered there, naming asn2
        assert client.base_url == f"http://{sim.servers['asn2']}" == sim.asn_url


async def test_an_answer_naming_no_server_sends_the_next_request_to_the_director(
    sim: Simulator,
) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        sim.answer(Answer(None, None, asn=AsnHeader(name=None)), path_contains=STATUS)
        await client.site_status()  # answered by asn1, with no X_MYENERGI-asn
        assert client.base_url == sim.url
        sim.clear_requests()
        await client.site_status()
        assert client.base_url == sim.asn_url
    assert [r.server for r in sim.requests if r.authorized] == ["director"]


async def test_an_answer_naming_undefined_sends_the_next_request_to_the_director(
    sim: Simulator,
) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        sim.answer(Answer(None, None, asn=AsnHeader(value="undefined")), path_contains=STATUS)
        await client.site_status()
        assert client.base_url == sim.url


async def test_an_error_page_naming_no_server_does_not_send_to_the_director(
    sim: Simulator,
) -> None:
    async with make_client(sim, backoff_initial_s=0, backoff_max_s=0) as client:
        await client.site_status()
        sim.clear_requests()
        sim.answer(Answer(503, b"<html>busy</html>", "text/html", asn=AsnHeader(name=None)))
        await client.site_status()  # retried on the same server
        assert client.base_url == sim.asn_url
    assert {r.server for r in sim.requests} == {"asn1"}


# --- authentication --------------------------------------------------------------------------


async def test_digest_auth_with_hub_serial_and_key(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        assert client.requests_sent == 2  # challenge + authenticated
        await client.app_names()
    first, second = sim.requests[:2]
    assert not first.authorized and second.authorized
    assert sim.requests[-1].authorized
    assert client.requests_sent == len(sim.requests)


async def test_wrong_key_is_an_authentication_error_and_not_retried() -> None:
    with new_sim(api_key="another-key") as sim:
        async with make_client(sim) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.site_status()
            wire = client.requests_sent
        seen = sim.requests
    assert info.value.endpoint == "cgi-jstatus-*"
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert wire == len(seen) <= 4  # challenge/answer, once more on the asn: no retries
    assert not any(r.authorized for r in seen)


async def test_401_without_a_move_is_final(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
        sim.clear_requests()
        sim.fail_next("401", 10)  # as if the key had been revoked
        with pytest.raises(AuthenticationError):
            await client.zappi_status()
        assert len(sim.requests) == 2  # stale digest, fresh challenge answered: refused


async def test_user_agent_names_tool_and_version(sim: Simulator) -> None:
    async with make_client(sim) as client:
        await client.site_status()
    assert {r.user_agent for r in sim.requests} == {f"zapledger/{zapledger.__version__}"}
    sim.clear_requests()
    async with make_client(sim, user_agent="my-script/1.0") as client:
        await client.site_status()
    assert {r.user_agent for r in sim.requests} == {"my-script/1.0"}


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match="User-Agent"):
        Client(HUB, KEY, user_agent=f"x/{KEY}")
    with pytest.raises(ConfigError, match="API key"):
        Client(HUB, "")
    with pytest.raises(ConfigError, match="hub serial"):
        Client("", KEY)
    with pytest.raises(ConfigError, match="director URL"):
        Client(HUB, KEY, director_url="ftp://x")
    with pytest.raises(ValueError, match="max_concurrency"):
        Client(HUB, KEY, max_concurrency=0)
    with pytest.raises(ValueError, match="max_attempts"):
        Client(HUB, KEY, max_attempts=0)
    with pytest.raises(ValueError, match="rate_limit_per_s"):
        Client(HUB, KEY, rate_limit_per_s=0)


async def test_secret_key_is_accepted(sim: Simulator) -> None:
    async with Client(HUB, Secret(KEY), director_url=sim.url, rate_limit_per_s=None) as c:
        await c.site_status()
    assert sim.requests[-1].authorized


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_statuses_are_retried(client: Client, sim: Simulator, status: int) -> None:
    await warm(client, sim)
    sim.answer(Answer.page(status, b"<html>busy</html>"), count=2, path_contains=STATUS)
    site = await client.site_status()
    assert [z.serial for z in site.zappis] == [ZAPPI, ZAPPI2]
    assert authorized_paths(sim) == [STATUS] * 3
    assert sim.stats.by_status[status] == 2


async def test_server_error_after_attempts_run_out(sim: Simulator) -> None:
    async with make_client(sim, max_attempts=3) as client:
        await warm(client, sim)
        sim.answer(Answer.page(503, b"<html>down</html>"), count=5, path_contains=STATUS)
        with pytest.raises(ServerError) as info:
            await client.site_status()
    assert info.value.status == 503
    assert info.value.endpoint == "cgi-jstatus-*"
    assert "3 attempts" in str(info.value)
    assert sim.plan.answers_left == 2
    assert authorized_paths(sim) == [STATUS] * 3


async def test_a_429_beyond_the_patience_is_a_rate_limited_error(sim: Simulator) -> None:
    sim.faults = Faults(retry_after_s=7)
    async with make_client(sim, max_attempts=2, throttle_patience_s=0) as client:
        await warm(client, sim)
        sim.fail_next("429", 1, path_contains=STATUS)
        with pytest.raises(RateLimitedError) as info:
            await client.site_status()
    assert info.value.retry_after_s == 7.0
    assert sim.stats.faults == {"429": 1}


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_errors_are_not_retried(client: Client, sim: Simulator, status: int) -> None:
    await warm(client, sim)
    sim.answer(Answer.page(status, b"<html>no</html>"), count=1, path_contains=STATUS)
    with pytest.raises(ServerError) as info:
        await client.site_status()
    assert info.value.status == status
    assert authorized_paths(sim) == [STATUS]


async def test_timeouts_become_cloud_timeout_error(sim: Simulator) -> None:
    """The simulator holds the request without answering: httpx's own timeout fires."""
    sim.faults = Faults(timeout_s=5.0)
    async with make_client(sim, max_attempts=3, timeout_s=0.3) as client:
        await warm(client, sim)
        sim.fail_next("timeout", 3, path_contains=STATUS)
        with pytest.raises(CloudTimeoutError) as info:
            await client.site_status()
    assert "0.3 s" in str(info.value) and "3 attempts" in str(info.value)
    assert isinstance(info.value, CloudConnectionError)
    assert [r.path for r in sim.requests] == [STATUS] * 3
    assert sim.stats.faults == {"timeout": 3}


async def test_a_timeout_then_success_is_retried(sim: Simulator) -> None:
    sim.faults = Faults(timeout_s=5.0)
    async with make_client(sim, timeout_s=0.3) as client:
        await warm(client, sim)
        sim.fail_next("timeout", 1, path_contains=STATUS)
        site = await client.site_status()
    assert [z.serial for z in site.zappis] == [ZAPPI, ZAPPI2]
    assert [r.path for r in sim.requests] == [STATUS] * 2


async def test_connection_errors_become_cloud_connection_error() -> None:
    with socket.socket() as bound:  # bound but not listening: the connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        async with Client(
            HUB,
            KEY,
            director_url=f"http://127.0.0.1:{port}",
            max_attempts=2,
            rate_limit_per_s=None,
        ) as client:
            with pytest.raises(CloudConnectionError) as info:
                await client.site_status()
            assert client.requests_sent == 2
    assert not isinstance(info.value, CloudTimeoutError)
    # the transport's own words name what failed
    assert "cannot reach 127.0.0.1: All connection attempts failed" in str(info.value)


class Waits:
    """Records the waits stamina schedules (public instrumentation hook)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, details: stamina.instrumentation.RetryDetails) -> None:
        self.waits.append(details.wait_for)


@pytest.fixture
def real_waits() -> Iterator[Waits]:
    waits = Waits()
    old = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([waits])
    with stamina.set_testing(False):
        yield waits
    stamina.instrumentation.set_on_retry_hooks(old)


async def test_retry_after_is_honoured(sim: Simulator, real_waits: Waits) -> None:
    wire = SendTimes()
    async with make_client(sim, transport=wire) as client:
        await warm(client, sim)
        wire.sent.clear()
        limited = Answer.page(429, b"<html>slow down</html>", headers=(("Retry-After", "0.3"),))
        sim.answer(limited, path_contains=STATUS)
        started = wallclock.monotonic()
        await client.site_status()
        elapsed = wallclock.monotonic() - started
    assert real_waits.waits == []  # no backoff: the pacer holds the server until Retry-After
    assert elapsed >= 0.299
    assert [r.path for r in sim.requests if r.authorized] == [STATUS] * 2
    assert len(wire.sent) == 2 and wire.sent[1] - wire.sent[0] >= 0.299


async def test_retry_after_is_capped_by_backoff_max(sim: Simulator, real_waits: Waits) -> None:
    async with make_client(sim, backoff_max_s=0.05) as client:
        await warm(client, sim)
        down = Answer.page(503, b"<html>down</html>", headers=(("Retry-After", "3600"),))
        sim.answer(down, path_contains=STATUS)
        await client.site_status()
    assert real_waits.waits == [pytest.approx(0.05)]


async def test_backoff_grows_with_jitter(sim: Simulator, real_waits: Waits) -> None:
    async with make_client(sim, backoff_initial_s=0.01, backoff_max_s=0.05) as client:
        await warm(client, sim)
        sim.answer(Answer.page(500, b"<html>oops</html>"), count=3, path_contains=STATUS)
        await client.site_status()
    assert len(real_waits.waits) == 3
    assert all(0.01 <= w <= 0.05 + 1e-9 for w in real_waits.waits), real_waits.waits


def test_retry_after_parsing() -> None:
    def parse(value: str) -> float | None:
        return _retry_after_s(httpx.Response(429, headers={"Retry-After": value}))

    assert parse("120") == 120.0
    assert parse(" 1.5 ") == 1.5
    assert parse("-3") == 0.0
    assert parse("soon") is None
    assert parse("inf") is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    from_date = parse(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert from_date is not None and 25 <= from_date <= 31
    assert _retry_after_s(httpx.Response(429)) is None


# --- bad payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["client_error_page.html", "client_jday_truncated.json"])
async def test_garbled_bodies_are_retried_a_few_times_then_bad_response(
    client: Client, sim: Simulator, name: str
) -> None:
    await warm(client, sim)
    sim.answer(Answer(200, fixture(name)), count=10, path_contains="/cgi-jday-")
    with pytest.raises(BadResponseError) as info:
        await client.minute_history(ZAPPI, date(2024, 3, 5))
    endpoint = f"cgi-jday-Z{ZAPPI}-2024-3-5"
    assert info.value.endpoint == endpoint
    assert endpoint in str(info.value)
    assert KEY not in str(info.value)
    assert sim.plan.answers_left == 10 - GARBLED_ATTEMPTS
    assert authorized_paths(sim) == [f"/{endpoint}"] * GARBLED_ATTEMPTS


async def test_a_truncated_body_once_is_recovered(client: Client, sim: Simulator) -> None:
    await warm(client, sim)
    sim.fail_next("truncated", 1, path_contains="/cgi-jday-")
    history = await client.minute_history(ZAPPI, date(2024, 3, 5))
    assert len(history.records) == 1440
    assert sim.stats.faults == {"truncated": 1}


async def test_wrong_shape_is_not_retried(client: Client, sim: Simulator) -> None:
    await warm(client, sim)
    sim.answer(Answer.json({"nothing": "here"}), path_contains=STATUS)
    with pytest.raises(BadResponseError, match=r"cgi-jstatus-\*"):
        await client.site_status()
    sim.answer(Answer.json([1, 2]), path_contains="/cgi-get-app-key-")
    with pytest.raises(BadResponseError):
        await client.app_names()
    assert authorized_paths(sim) == [STATUS, "/cgi-get-app-key-"]


async def test_history_of_another_serial_is_refused(client: Client, sim: Simulator) -> None:
    body = history_payload("999", datetime(2024, 3, 5, tzinfo=UTC), 24, 3600)
    sim.answer(Answer(200, body), path_contains="/cgi-jdayhour-")
    with pytest.raises(BadResponseError, match="U999"):
        await client.hour_history(ZAPPI, date(2024, 3, 5))


async def test_history_without_serial_in_envelope_gets_the_asked_one(
    client: Client, sim: Simulator
) -> None:
    body = history_payload("", datetime(2024, 3, 5, tzinfo=UTC), 24, 3600)
    sim.answer(Answer(200, body), path_contains="/cgi-jdayhour-")
    history = await client.hour_history(ZAPPI, date(2024, 3, 5))
    assert history.serial == ZAPPI and len(history.records) == 24


# --- status and names ------------------------------------------------------------------------


async def test_status_endpoints(client: Client, sim: Simulator) -> None:
    site = await client.site_status()
    assert [z.serial for z in site.zappis] == [ZAPPI, ZAPPI2]
    assert site.asn == sim.asn
    assert await client.zappi_serials() == [ZAPPI, ZAPPI2]
    second = await client.zappi_status(f"Z{ZAPPI2}")
    assert second.serial == ZAPPI2
    first = await client.zappi_status()
    assert first.serial == ZAPPI
    paths = authorized_paths(sim)
    assert f"/cgi-jstatus-Z{ZAPPI2}" in paths and "/cgi-jstatus-Z" in paths


async def test_app_names(client: Client) -> None:
    assert await client.app_names() == {
        "siteName": "Home",
        f"Z{ZAPPI}": "Drive",
        f"Z{ZAPPI2}": "Zappi 2",
        "H11000001": "PV",
    }


@pytest.mark.parametrize("bad", ["12a", "", "Z", "１２３", "1-2"])
async def test_serials_are_digits(client: Client, sim: Simulator, bad: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        await client.zappi_status(bad)
    assert len(sim.requests) == 0


# --- history ---------------------------------------------------------------------------------


async def test_minute_day_drops_the_next_days_midnight(client: Client, sim: Simulator) -> None:
    start = datetime(2024, 3, 5, tzinfo=UTC)
    body = history_payload(ZAPPI, start, 1441, 60, missing=[10, 11])
    sim.answer(Answer(200, body), path_contains="/cgi-jday-")
    history = await client.minute_history(ZAPPI, date(2024, 3, 5))
    assert authorized_paths(sim)[-1] == f"/cgi-jday-Z{ZAPPI}-2024-3-5"
    assert history.resolution is Resolution.MINUTE
    assert len(history.records) == 1438
    assert history.outside_window == 1
    assert [(g.start.minute, g.missing) for g in history.gaps] == [(10, 2)]
    assert history.records[0].timestamp == start


async def test_minute_history_with_start_and_count(client: Client, sim: Simulator) -> None:
    history = await client.minute_history(ZAPPI, date(2024, 10, 27), start=time(23, 0), count=90)
    assert authorized_paths(sim)[-1] == f"/cgi-jday-Z{ZAPPI}-2024-10-27-23-0-90"
    assert len(history.records) == 90 and not history.gaps
    assert history.records[0].timestamp == datetime(2024, 10, 27, 23, 0, tzinfo=UTC)
    assert history.records[-1].timestamp == datetime(2024, 10, 28, 0, 29, tzinfo=UTC)
    rest = await client.minute_history(ZAPPI, date(2024, 1, 2), start=time(22, 30))
    assert authorized_paths(sim)[-1] == f"/cgi-jday-Z{ZAPPI}-2024-1-2-22-30-90"
    assert len(rest.records) == 90
    with pytest.raises(ValueError, match=r"1\.\.1440"):
        await client.minute_history(ZAPPI, date(2024, 1, 2), count=1441)
    with pytest.raises(ValueError, match="whole minutes"):
        await client.minute_history(ZAPPI, date(2024, 1, 2), start=time(1, 2, 3))


async def test_hour_history(client: Client, sim: Simulator) -> None:
    day = await client.hour_history(ZAPPI, date(2024, 7, 5))
    assert authorized_paths(sim)[-1] == f"/cgi-jdayhour-Z{ZAPPI}-2024-7-5"
    assert len(day.records) == 24 and day.resolution is Resolution.HOUR
    assert [r.timestamp.hour for r in day.records] == list(range(24))
    part = await client.hour_history(ZAPPI, date(2024, 7, 5), start_hour=22, count=3)
    assert authorized_paths(sim)[-1] == f"/cgi-jdayhour-Z{ZAPPI}-2024-7-5-22-3"
    assert [r.timestamp.hour for r in part.records] == [22, 23, 0]
    tail = await client.hour_history(ZAPPI, date(2024, 7, 5), start_hour=20)
    assert len(tail.records) == 4
    with pytest.raises(ValueError, match="start_hour"):
        await client.hour_history(ZAPPI, date(2024, 7, 5), start_hour=24)


@pytest.mark.parametrize(
    ("tz", "day", "hours", "path"),
    [
        ("Europe/London", date(2024, 3, 31), 23, "2024-3-31-0-23"),
        ("Europe/London", date(2024, 10, 27), 25, "2024-10-26-23-25"),
        ("Europe/London", date(2024, 7, 1), 24, "2024-6-30-23-24"),
        ("Europe/Amsterdam", date(2024, 3, 31), 23, "2024-3-30-23-23"),
        ("Europe/Amsterdam", date(2024, 10, 27), 25, "2024-10-26-22-25"),
        ("America/New_York", date(2024, 11, 3), 25, "2024-11-3-4-25"),
        ("Australia/Sydney", date(2024, 10, 6), 23, "2024-10-5-14-23"),
    ],
)
async def test_local_day_hourly_on_dst_days(
    client: Client, sim: Simulator, tz: str, day: date, hours: int, path: str
) -> None:
    history = await client.local_day(ZAPPI, day, tz, Resolution.HOUR)
    assert len(history.records) == hours
    assert not history.gaps
    assert authorized_paths(sim)[-1] == f"/cgi-jdayhour-Z{ZAPPI}-{path}"
    local_dates = {r.timestamp.astimezone(ZoneInfo(tz)).date() for r in history.records}
    assert local_dates == {day}


async def test_local_day_minutes_on_a_fall_back_day_takes_two_requests(
    client: Client, sim: Simulator
) -> None:
    history = await client.local_day(ZAPPI, date(2024, 10, 27), "Europe/London", Resolution.MINUTE)
    assert len(history.records) == 1500 and not history.gaps
    assert sorted(authorized_paths(sim)[-2:]) == [
        f"/cgi-jday-Z{ZAPPI}-2024-10-26-23-0-1440",
        f"/cgi-jday-Z{ZAPPI}-2024-10-27-23-0-60",
    ]
    times = [r.timestamp for r in history.records]
    assert times == sorted(times) and len(set(times)) == 1500
    assert times[0] == datetime(2024, 10, 26, 23, tzinfo=UTC)
    assert times[-1] == datetime(2024, 10, 27, 23, 59, tzinfo=UTC)


async def test_local_day_reports_gaps_over_the_local_day(client: Client, sim: Simulator) -> None:
    start = datetime(2024, 3, 30, 23, tzinfo=UTC)
    body = history_payload(ZAPPI, start, 23, 3600, missing=[0, 5])
    sim.answer(Answer(200, body), path_contains="/cgi-jdayhour-")
    history = await client.local_day(ZAPPI, date(2024, 3, 31), "Europe/Amsterdam", Resolution.HOUR)
    assert len(history.records) == 21
    assert [(g.start, g.missing) for g in history.gaps] == [
        (start, 1),
        (start + timedelta(hours=5), 1),
    ]


async def test_local_day_unknown_zone(client: Client) -> None:
    with pytest.raises(ConfigError):
        await client.local_day(ZAPPI, date(2024, 1, 1), "Nowhere/Land", Resolution.HOUR)


async def test_local_day_that_does_not_exist_is_empty(client: Client, sim: Simulator) -> None:
    history = await client.local_day(ZAPPI, date(2011, 12, 30), "Pacific/Apia", Resolution.HOUR)
    assert history.records == () and history.serial == ZAPPI
    assert client.requests_sent == 0 and len(sim.requests) == 0


# --- commands (built and checked by zapledger.control; see tests/test_control*.py) -----------

STOP_BOOST = f"/cgi-zappi-mode-Z{ZAPPI}-0-2-0-0000"


async def test_a_command_is_one_get_of_its_path(client: Client, sim: Simulator) -> None:
    assert await client.command(STOP_BOOST) == {"status": 0, "statustext": "", "asn": sim.asn}
    assert authorized_paths(sim) == [STOP_BOOST]


@pytest.mark.parametrize("path", ["/cgi-jstatus-*", "cgi-zappi-mode-Z1-1-0-0-0000", "/x?y=1"])
async def test_only_command_paths_are_sent(client: Client, path: str) -> None:
    with pytest.raises(ValueError, match="not a command path"):
        await client.command(path)
    assert client.requests_sent == 0


@pytest.mark.parametrize("status", [-14, "-14"])
async def test_command_error_codes(client: Client, sim: Simulator, status: int | str) -> None:
    sim.answer(Answer.json({"status": status, "statustext": ""}), path_contains="/cgi-zappi-mode-")
    with pytest.raises(CommandError) as info:
        await client.command(f"/cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000")
    assert info.value.code == -14
    assert info.value.meaning == "invalid parameter"
    assert info.value.endpoint == f"cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000"
    assert len(authorized_paths(sim)) == 1  # refused commands are not retried


async def test_the_simulator_refuses_a_bad_command_the_same_way(client: Client) -> None:
    with pytest.raises(CommandError) as info:
        await client.command("/cgi-zappi-mode-Z99999999-1-0-0-0000")
    assert info.value.code == -13


async def test_command_busy_and_unknown_codes(client: Client, sim: Simulator) -> None:
    busy = Answer.json({"status": "-26", "statustext": "busy", "asn": sim.asn})
    sim.answer(busy, path_contains="/cgi-zappi-mode-")
    sim.answer(Answer.json({"status": -99}), path_contains="/cgi-set-priority-")
    with pytest.raises(CommandError, match=r"device busy\): busy"):
        await client.command(f"/cgi-zappi-mode-Z{ZAPPI}-0-10-3-0000")
    with pytest.raises(CommandError, match="unknown"):
        await client.command(f"/cgi-set-priority-Z{ZAPPI}-1")


@pytest.mark.parametrize("answer", [{"status": "0", "statustext": ""}, {"status": 1}, {"mgl": 5}])
async def test_command_ok_answers(client: Client, sim: Simulator, answer: dict[str, Any]) -> None:
    sim.answer(Answer.json(answer), path_contains="/cgi-zappi-mode-")
    assert await client.command(STOP_BOOST) == answer


@pytest.mark.parametrize("answer", [{"status": "x"}, {"status": True}, [0]])
async def test_command_bad_answers(client: Client, sim: Simulator, answer: Any) -> None:
    sim.answer(Answer.json(answer), path_contains="/cgi-zappi-mode-")
    with pytest.raises(BadResponseError, match="cgi-zappi-mode"):
        await client.command(STOP_BOOST)


# --- politeness ------------------------------------------------------------------------------


async def test_rate_limit_spaces_requests(sim: Simulator) -> None:
    rate = 20.0
    wire = SendTimes()
    async with make_client(sim, rate_limit_per_s=rate, max_concurrency=8, transport=wire) as client:
        await warm(client, sim)
        wire.sent.clear()
        await asyncio.gather(*(client.app_names() for _ in range(6)))
    starts = wire.sent
    assert len(starts) == len(sim.requests) == 6
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / rate * 0.99
    # the server saw them spread out the same way (0.8: thread scheduling between the two)
    arrivals = [r.at for r in sim.requests]
    assert arrivals[-1] - arrivals[0] >= 5 / rate * 0.8


async def test_a_pacer_not_adaptive_runs_at_its_cap_or_without_waits() -> None:
    off = ServerPacer("s", max_rate_per_s=None, max_concurrency=100, adaptive=False)
    started = wallclock.monotonic()
    for _ in range(50):
        off.release(await off.acquire(), Outcome.CLEAN)
    assert wallclock.monotonic() - started < 0.05
    on = ServerPacer("s", max_rate_per_s=50.0, max_concurrency=1, adaptive=False)
    started = wallclock.monotonic()
    for _ in range(6):
        on.release(await on.acquire(), Outcome.CLEAN)
    assert wallclock.monotonic() - started >= 5 / 50


async def test_a_pacer_never_exceeds_its_rate_in_any_second() -> None:
    rate = 8.0
    pacer = ServerPacer("s", max_rate_per_s=rate, max_concurrency=4, adaptive=False)
    starts = []
    for _ in range(20):
        pacer.release(await pacer.acquire(), Outcome.CLEAN)
        starts.append(wallclock.monotonic())
    for i, first in enumerate(starts):
        in_window = [t for t in starts[i:] if t - first < 1.0]
        assert len(in_window) <= rate


async def test_digest_challenges_count_against_the_rate(sim: Simulator) -> None:
    rate = 20.0
    wire = SendTimes()
    async with make_client(sim, rate_limit_per_s=rate, max_concurrency=4, transport=wire) as c:
        await asyncio.gather(*(c.app_names() for _ in range(30)))
    sent = wire.sent
    assert len(sent) == len(sim.requests) > 30  # the first requests' challenges are on the wire
    assert sum(not r.authorized for r in sim.requests) == len(sent) - 30
    # the answer to a challenge waits its turn like any request
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.99 / rate
    for i, first in enumerate(sent):
        assert len([t for t in sent[i:] if t - first < 1.0]) <= rate


async def test_concurrency_cap() -> None:
    with new_sim(latency_ms=30) as sim:
        async with make_client(sim, max_concurrency=2) as client:
            await warm(client, sim)
            sim.reset_stats()
            await asyncio.gather(*(client.app_names() for _ in range(8)))
        assert sim.stats.max_concurrent == 2


async def test_default_politeness(sim: Simulator) -> None:
    client = Client(HUB, KEY, director_url=sim.url)
    assert client.base_url == sim.url
    await client.app_names()  # the director (and its digest challenge)
    await client.app_names()  # the asn server
    started = wallclock.monotonic()
    await client.app_names()  # the default 2 per second spaces starts 0.5 s apart
    assert wallclock.monotonic() - started >= 0.45
    await client.aclose()
    await client.aclose()


# --- secrets ---------------------------------------------------------------------------------


async def test_the_key_never_shows(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with make_client(sim, max_attempts=2, throttle_patience_s=0) as client:
        texts.append(repr(client))
        await client.site_status()
        page = fixture("client_error_page.html")
        sim.answer(Answer.page(503, b"<html>down</html>"), count=2, path_contains=STATUS)
        sim.answer(Answer(200, page), count=2, path_contains=STATUS)
        limited = Answer.page(429, b"<html>slow</html>", headers=(("Retry-After", "1"),))
        sim.answer(limited, path_contains="/cgi-get-app-key-")  # waited out for 0 s: an error
        sim.answer(Answer.json({"status": "-14"}), path_contains="/cgi-zappi-mode-")
        for call in (client.site_status, client.site_status, client.app_names):
            with pytest.raises(ApiError) as info:
                await call()
            texts += [str(info.value), repr(info.value), repr(info.value.__cause__)]
        with pytest.raises(CommandError) as cmd:
            await client.command(STOP_BOOST)
        texts += [str(cmd.value), repr(cmd.value)]
        sim.fail_next("401", 10)  # as if the key had changed
        with pytest.raises(AuthenticationError) as auth:
            await client.site_status()
        texts += [str(auth.value), repr(auth.value)]
        texts.append(repr(client))
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.__dict__) for r in caplog.records]
    assert any("GET http://" in t for t in texts)  # the debug log is there
    assert any(r.name == "zapledger.client" for r in caplog.records)
    for text in texts:
        assert KEY not in text
    assert repr(client) == f"Client(hub_serial='{HUB}', server='{sim.asn_url}')"
    assert not any(KEY in r.user_agent or KEY in r.path for r in sim.requests)
    assert sim.plan.answers_left == 0


async def test_a_read_refused_with_a_status_code_is_a_command_error(
    client: Client, sim: Simulator
) -> None:
    refused = Answer.json({"status": "-14", "statustext": ""})
    sim.answer(refused, path_contains="/cgi-jdayhour-")
    with pytest.raises(CommandError) as info:
        await client.hour_history(ZAPPI, date(2024, 3, 5), start_hour=3, count=2)
    assert info.value.code == -14
    assert info.value.endpoint == f"cgi-jdayhour-Z{ZAPPI}-2024-3-5-3-2"
    with pytest.raises(CommandError, match="serial not found"):
        await client.zappi_status("999")  # the simulator's own answer for an unknown zappi
    for odd in ({"status": 0}, {"status": "odd"}):
        sim.answer(Answer.json(odd), path_contains="/cgi-jstatus-Z")
        with pytest.raises(BadResponseError):
            await client.zappi_status("999")


async def test_local_day_errors_are_not_wrapped_in_groups(client: Client, sim: Simulator) -> None:
    sim.answer(Answer.page(400, b"<html>bad</html>"), count=None, path_contains="/cgi-jday-")
    with pytest.raises(ServerError) as info:
        await client.local_day(ZAPPI, date(2024, 10, 27), "Europe/London", Resolution.MINUTE)
    assert info.value.status == 400
