"""The cloud client against an in-process fake cloud (httpx.MockTransport) that checks digest auth.

Retries run in stamina's test mode (no waits) unless a test measures the waits themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import time as wallclock
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
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
    RateLimiter,
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
from zapledger.models import Resolution, ZappiMode

FIXTURES = Path(__file__).parent / "fixtures"
HUB = "10088888"
KEY = "Sup3rSecretApiKey-4711"
ZAPPI = "12345678"
REALM = "MyEnergi Telemetry"
DIRECTOR = "https://director.myenergi.net"
HOME = "s18.myenergi.net"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth is MD5


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


Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class Seen:
    at: float
    host: str
    port: int | None
    path: str
    authorized: bool
    user_agent: str


@dataclass
class FakeCloud:
    """A director and account servers speaking digest auth, with scripted failures."""

    key: str = KEY
    home: str = HOME
    #: asn value sent on every response (None: no header); the director always names ``home``.
    director_serves: bool = True
    asn_header_name: str = "X_MYENERGI-asn"
    asn_override: str | None = None
    delay_s: float = 0.0
    scripted: list[Reply] = field(default_factory=list)
    routes: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    nonce_counter: int = 0
    #: Homes the account moves to, one each time a server refuses a request for not holding it.
    moves_on_refusal: list[str] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _server(self, request: httpx.Request) -> str:
        port = request.url.port
        return request.url.host + (f":{port}" if port else "")

    def _asn_headers(self) -> dict[str, str]:
        value = self.asn_override if self.asn_override is not None else self.home
        return {self.asn_header_name: value}

    def _challenge(self) -> httpx.Response:
        self.nonce_counter += 1
        nonce = md5(f"nonce{self.nonce_counter}")
        header = f'Digest realm="{REALM}", qop="auth", algorithm="MD5", nonce="{nonce}"'
        return httpx.Response(
            401, headers={"WWW-Authenticate": header, **self._asn_headers()}, text="Unauthorized"
        )

    def _authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))
        if fields.get("username") != HUB or fields.get("realm") != REALM:
            return False
        if fields.get("qop") != "auth" or fields.get("uri") != request.url.raw_path.decode():
            return False
        ha1 = md5(f"{HUB}:{REALM}:{self.key}")
        ha2 = md5(f"GET:{fields['uri']}")
        expect = md5(
            f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{ha2}"
        )
        return fields.get("response") == expect

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return self._respond(request)
        finally:
            self.in_flight -= 1

    def _respond(self, request: httpx.Request) -> httpx.Response:
        authorized = self._authorized(request)
        path = request.url.raw_path.decode()
        self.seen.append(
            Seen(
                wallclock.monotonic(),
                request.url.host,
                request.url.port,
                path,
                authorized,
                request.headers.get("user-agent", ""),
            )
        )
        if not authorized:
            return self._challenge()
        server = self._server(request)
        if server != self.home and not (server.startswith("director") and self.director_serves):
            # An authenticated request to a server that does not hold the account.
            refusal = httpx.Response(401, headers=self._asn_headers(), text="wrong server")
            if self.moves_on_refusal:
                self.home = self.moves_on_refusal.pop(0)
            return refusal
        if self.scripted:
            reply = self.scripted.pop(0)
            response = reply(request) if callable(reply) else reply
        else:
            response = self._route(request, path)
        for name, value in self._asn_headers().items():
            response.headers.setdefault(name, value)
        return response

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        for prefix, reply in self.routes.items():
            if path.startswith(prefix):
                return reply(request) if callable(reply) else reply
        if path == "/cgi-jstatus-*":
            return httpx.Response(200, content=fixture("client_status_site.json"))
        if path.startswith("/cgi-jstatus-Z"):
            return httpx.Response(200, content=fixture("client_status_site.json"))
        if path == "/cgi-get-app-key-":
            return httpx.Response(200, content=fixture("client_app_key.json"))
        if path.startswith(("/cgi-jday-", "/cgi-jdayhour-")):
            return self._history(path)
        if path.startswith(("/cgi-zappi-", "/cgi-set-", "/cgi-jlock-")):
            return httpx.Response(200, json={"status": 0, "statustext": ""})
        return httpx.Response(404, text="not found")

    def _history(self, path: str) -> httpx.Response:
        name, serial, *parts = path.lstrip("/").split("-")[1:]
        hourly = name == "jdayhour"
        step = 3600 if hourly else 60
        nums = [int(p) for p in parts]
        start = datetime(nums[0], nums[1], nums[2], tzinfo=UTC)
        if len(nums) == 3:
            count = 24 if hourly else 1440
        elif hourly:
            start += timedelta(hours=nums[3])
            count = nums[4]
        else:
            start += timedelta(hours=nums[3], minutes=nums[4])
            count = nums[5]
        return httpx.Response(200, content=history_payload(serial[1:], start, count, step))

    def authorized_paths(self) -> list[str]:
        return [s.path for s in self.seen if s.authorized]


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries keep their attempt counts but do not wait."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


def make_client(cloud: FakeCloud, **kw: Any) -> Client:
    kw.setdefault("rate_limit_per_s", None)
    kw.setdefault("director_url", DIRECTOR)
    return Client(HUB, KEY, transport=cloud.transport(), **kw)


@pytest.fixture
async def client(cloud: FakeCloud) -> AsyncIterator[Client]:
    async with make_client(cloud) as c:
        yield c


# --- discovery -------------------------------------------------------------------------------


async def test_first_request_goes_to_the_director_then_to_the_asn(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        assert client.base_url == DIRECTOR
        await client.site_status()
        assert client.base_url == f"https://{HOME}"
        await client.site_status()
    hosts = [s.host for s in cloud.seen]
    assert hosts[0] == "director.myenergi.net"
    assert hosts[-1] == HOME
    assert cloud.seen[0].path == "/cgi-jstatus-*"


async def test_asn_keeps_the_scheme_and_takes_host_and_port() -> None:
    cloud = FakeCloud(home="127.0.0.1:5678")
    async with make_client(cloud, director_url="http://127.0.0.1:4000") as client:
        await client.site_status()
        assert client.base_url == "http://127.0.0.1:5678"
        await client.app_names()
    assert (cloud.seen[-1].host, cloud.seen[-1].port) == ("127.0.0.1", 5678)
    assert "127.0.0.1:5678" in repr(client)


def test_server_from_asn() -> None:
    base = httpx.URL("http://127.0.0.1:4000")
    assert str(server_from_asn(base, "s18.myenergi.net")) == "http://s18.myenergi.net"
    assert str(server_from_asn(base, " 127.0.0.1:5678 ")) == "http://127.0.0.1:5678"
    https = httpx.URL("https://director.myenergi.net")
    assert str(server_from_asn(https, "s7.myenergi.net")) == "https://s7.myenergi.net"
    for junk in (None, "", "undefined", "UNDEFINED", "a/b", "host:99999", "x y", "-bad"):
        assert server_from_asn(base, junk) is None


async def test_asn_header_is_case_insensitive(cloud: FakeCloud) -> None:
    cloud.asn_header_name = "x_myenergi-ASN"
    async with make_client(cloud) as client:
        await client.site_status()
        assert client.base_url == f"https://{HOME}"


@pytest.mark.parametrize("value", ["undefined", ""])
async def test_undefined_or_empty_asn_is_ignored(cloud: FakeCloud, value: str) -> None:
    cloud.asn_override = value
    async with make_client(cloud) as client:
        await client.site_status()
        assert client.base_url == DIRECTOR


async def test_asn_on_the_digest_challenge_is_followed(cloud: FakeCloud) -> None:
    """Only the 401 challenge names the server; the director's 200 does not."""

    def no_asn(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=fixture("client_status_site.json"))

    cloud.routes["/cgi-jstatus-*"] = no_asn
    cloud.asn_header_name = "X_MYENERGI-asn"
    async with make_client(cloud) as client:
        await client.site_status()
        assert client.base_url == f"https://{HOME}"


async def test_director_refusing_with_an_asn_is_retried_on_that_server(cloud: FakeCloud) -> None:
    cloud.director_serves = False
    async with make_client(cloud) as client:
        status = await client.site_status()
    assert status.zappi().serial == ZAPPI
    assert cloud.seen[-1].host == HOME and cloud.seen[-1].authorized


async def test_account_moving_mid_run_is_followed(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()
        assert client.base_url == f"https://{HOME}"
        cloud.home = "s9.myenergi.net"  # the old server now answers 401 naming the new one
        await client.zappi_status(ZAPPI)
        assert client.base_url == "https://s9.myenergi.net"
        before = len(cloud.seen)
        await client.zappi_status(ZAPPI)
    assert {s.host for s in cloud.seen[before:]} == {"s9.myenergi.net"}


async def test_an_account_moving_again_during_the_move_is_followed(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()
        cloud.home = "s2.myenergi.net"
        cloud.moves_on_refusal = ["s3.myenergi.net", "s4.myenergi.net"]
        await client.app_names()
        assert client.base_url == "https://s4.myenergi.net"


async def test_following_moves_is_bounded(cloud: FakeCloud) -> None:
    async with make_client(cloud, max_attempts=2) as client:
        await client.site_status()
        cloud.home = "s2.myenergi.net"
        cloud.moves_on_refusal = [f"s{n}.myenergi.net" for n in range(3, 30)]
        with pytest.raises(AuthenticationError, match="kept moving"):
            await client.app_names()
    # each attempt: the server it was sent to and MAX_MOVES new ones; then a backoff
    assert len(cloud.moves_on_refusal) == 27 - 2 * (1 + MAX_MOVES)


async def test_asn_changing_on_a_200_moves_the_next_request(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()

        def moved(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                200,
                content=fixture("client_status_site.json"),
                headers={"X_MYENERGI-asn": "s2.myenergi.net"},
            )

        cloud.scripted.append(moved)
        await client.site_status()
        assert client.base_url == "https://s2.myenergi.net"


# --- authentication --------------------------------------------------------------------------


async def test_digest_auth_with_hub_serial_and_key(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()
        assert client.requests_sent == 2  # challenge + authenticated
        await client.app_names()
    first, second = cloud.seen[:2]
    assert not first.authorized and second.authorized
    assert cloud.seen[-1].authorized
    assert client.requests_sent == len(cloud.seen)


async def test_wrong_key_is_an_authentication_error_and_not_retried() -> None:
    cloud = FakeCloud(key="another-key")
    async with make_client(cloud) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.site_status()
        wire = client.requests_sent
    assert info.value.endpoint == "cgi-jstatus-*"
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert wire == len(cloud.seen) <= 4  # challenge/answer, once more on the asn: no retries


async def test_401_without_a_move_is_final(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()
        before = len(cloud.seen)
        cloud.key = "rotated"
        with pytest.raises(AuthenticationError):
            await client.zappi_status()
        assert len(cloud.seen) - before == 2  # stale digest, fresh challenge answered: refused


async def test_user_agent_names_tool_and_version(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await client.site_status()
    assert {s.user_agent for s in cloud.seen} == {f"zapledger/{zapledger.__version__}"}
    other = FakeCloud()
    async with make_client(other, user_agent="my-script/1.0") as client:
        await client.site_status()
    assert other.seen[0].user_agent == "my-script/1.0"


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


async def test_secret_key_is_accepted(cloud: FakeCloud) -> None:
    async with Client(HUB, Secret(KEY), transport=cloud.transport(), rate_limit_per_s=None) as c:
        await c.site_status()
    assert cloud.seen[-1].authorized


# --- retries ---------------------------------------------------------------------------------


def status_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=fixture("client_status_site.json"))


async def warm(client: Client) -> None:
    """Discover the server first, so scripted replies meet the request under test."""
    await client.app_names()


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_statuses_are_retried(cloud: FakeCloud, status: int) -> None:
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(status), httpx.Response(status), status_ok]
        status_ = await client.site_status()
    assert status_.zappi().serial == ZAPPI
    assert cloud.authorized_paths()[-3:] == ["/cgi-jstatus-*"] * 3


async def test_server_error_after_attempts_run_out(cloud: FakeCloud) -> None:
    async with make_client(cloud, max_attempts=3) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(503)] * 5
        with pytest.raises(ServerError) as info:
            await client.site_status()
    assert info.value.status == 503
    assert info.value.endpoint == "cgi-jstatus-*"
    assert "3 attempts" in str(info.value)
    assert len(cloud.scripted) == 2


async def test_rate_limited_error_carries_retry_after(cloud: FakeCloud) -> None:
    async with make_client(cloud, max_attempts=2) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(429, headers={"Retry-After": "7"})] * 2
        with pytest.raises(RateLimitedError) as info:
            await client.site_status()
    assert info.value.retry_after_s == 7.0


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_errors_are_not_retried(cloud: FakeCloud, status: int) -> None:
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(status), status_ok]
        with pytest.raises(ServerError) as info:
            await client.site_status()
    assert info.value.status == status
    assert len(cloud.scripted) == 1


async def test_timeouts_become_cloud_timeout_error(cloud: FakeCloud) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with make_client(cloud, max_attempts=3, timeout_s=1.5) as client:
        await warm(client)
        cloud.scripted += [slow] * 3
        with pytest.raises(CloudTimeoutError) as info:
            await client.site_status()
    assert "1.5 s" in str(info.value) and "3 attempts" in str(info.value)
    assert isinstance(info.value, CloudConnectionError)


async def test_a_timeout_then_success_is_retried(cloud: FakeCloud) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [slow, status_ok]
        await client.site_status()


async def test_connection_errors_become_cloud_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    async with Client(
        HUB, KEY, transport=httpx.MockTransport(refuse), max_attempts=2, rate_limit_per_s=None
    ) as client:
        with pytest.raises(CloudConnectionError) as info:
            await client.site_status()
        assert client.requests_sent == 2
    assert not isinstance(info.value, CloudTimeoutError)
    assert "Connection refused" in str(info.value)


async def test_a_real_timeout_against_a_silent_server() -> None:
    """A loopback socket that accepts but never answers: httpx's own timeout fires."""

    writers: list[asyncio.StreamWriter] = []
    done: list[asyncio.Event] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        finished = asyncio.Event()
        done.append(finished)
        try:
            await reader.read()  # until the client gives up and hangs up
        finally:
            writer.close()
            finished.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Client(
            HUB,
            KEY,
            director_url=f"http://127.0.0.1:{port}",
            timeout_s=0.2,
            max_attempts=2,
            rate_limit_per_s=None,
        ) as client:
            with pytest.raises(CloudTimeoutError):
                await client.site_status()
    finally:
        server.close()
        for writer in writers:
            writer.close()
        for finished in done:
            await finished.wait()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await server.wait_closed()
    assert len(writers) == 2


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


async def test_retry_after_is_honoured(cloud: FakeCloud, real_waits: Waits) -> None:
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(429, headers={"Retry-After": "0.3"}), status_ok]
        started = wallclock.monotonic()
        await client.site_status()
        elapsed = wallclock.monotonic() - started
    assert real_waits.waits == [pytest.approx(0.3)]
    assert elapsed >= 0.29
    retried = [s.at for s in cloud.seen if s.authorized][-2:]
    assert retried[1] - retried[0] >= 0.29


async def test_retry_after_is_capped_by_backoff_max(cloud: FakeCloud, real_waits: Waits) -> None:
    async with make_client(cloud, backoff_max_s=0.05) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(503, headers={"Retry-After": "3600"}), status_ok]
        await client.site_status()
    assert real_waits.waits == [pytest.approx(0.05)]


async def test_backoff_grows_with_jitter(cloud: FakeCloud, real_waits: Waits) -> None:
    async with make_client(cloud, backoff_initial_s=0.01, backoff_max_s=0.05) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(500)] * 3 + [status_ok]
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
    cloud: FakeCloud, name: str
) -> None:
    body = fixture(name)
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(200, content=body)] * 10
        with pytest.raises(BadResponseError) as info:
            await client.minute_history(ZAPPI, date(2024, 3, 5))
    endpoint = f"cgi-jday-Z{ZAPPI}-2024-3-5"
    assert info.value.endpoint == endpoint
    assert endpoint in str(info.value)
    assert KEY not in str(info.value)
    assert len(cloud.scripted) == 10 - GARBLED_ATTEMPTS


async def test_a_truncated_body_once_is_recovered(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(200, content=fixture("client_jday_truncated.json"))]
        history = await client.minute_history(ZAPPI, date(2024, 3, 5))
    assert len(history.records) == 1440


async def test_wrong_shape_is_not_retried(cloud: FakeCloud) -> None:
    async with make_client(cloud) as client:
        await warm(client)
        cloud.scripted += [httpx.Response(200, json={"nothing": "here"}), status_ok]
        with pytest.raises(BadResponseError, match=r"cgi-jstatus-\*"):
            await client.site_status()
        cloud.scripted.clear()
        cloud.scripted += [httpx.Response(200, json=[1, 2]), status_ok]
        with pytest.raises(BadResponseError):
            await client.app_names()
    assert len(cloud.scripted) == 1


async def test_history_of_another_serial_is_refused(cloud: FakeCloud) -> None:
    body = history_payload("999", datetime(2024, 3, 5, tzinfo=UTC), 24, 3600)
    cloud.routes["/cgi-jdayhour-"] = httpx.Response(200, content=body)
    async with make_client(cloud) as client:
        with pytest.raises(BadResponseError, match="U999"):
            await client.hour_history(ZAPPI, date(2024, 3, 5))


async def test_history_without_serial_in_envelope_gets_the_asked_one(cloud: FakeCloud) -> None:
    body = history_payload("", datetime(2024, 3, 5, tzinfo=UTC), 24, 3600)
    cloud.routes["/cgi-jdayhour-"] = httpx.Response(200, content=body)
    async with make_client(cloud) as client:
        history = await client.hour_history(ZAPPI, date(2024, 3, 5))
    assert history.serial == ZAPPI and len(history.records) == 24


# --- status and names ------------------------------------------------------------------------


async def test_status_endpoints(client: Client, cloud: FakeCloud) -> None:
    site = await client.site_status()
    assert [z.serial for z in site.zappis] == [ZAPPI, "12345679"]
    assert site.asn == HOME
    assert await client.zappi_serials() == [ZAPPI, "12345679"]
    second = await client.zappi_status("Z12345679")
    assert second.serial == "12345679" and second.mode is ZappiMode.STOPPED
    first = await client.zappi_status()
    assert first.serial == ZAPPI
    paths = cloud.authorized_paths()
    assert "/cgi-jstatus-Z12345679" in paths and "/cgi-jstatus-Z" in paths


async def test_app_names(client: Client) -> None:
    assert await client.app_names() == {
        "siteName": "Home",
        "Z12345678": "Drive",
        "Z12345679": "Garage",
    }


@pytest.mark.parametrize("bad", ["12a", "", "Z", "１２３", "1-2"])
async def test_serials_are_digits(client: Client, bad: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        await client.zappi_status(bad)


# --- history ---------------------------------------------------------------------------------


async def test_minute_day_drops_the_next_days_midnight(cloud: FakeCloud) -> None:
    start = datetime(2024, 3, 5, tzinfo=UTC)
    cloud.routes["/cgi-jday-"] = httpx.Response(
        200, content=history_payload(ZAPPI, start, 1441, 60, missing=[10, 11])
    )
    async with make_client(cloud) as client:
        history = await client.minute_history(ZAPPI, date(2024, 3, 5))
    assert cloud.authorized_paths()[-1] == f"/cgi-jday-Z{ZAPPI}-2024-3-5"
    assert history.resolution is Resolution.MINUTE
    assert len(history.records) == 1438
    assert history.outside_window == 1
    assert [(g.start.minute, g.missing) for g in history.gaps] == [(10, 2)]
    assert history.records[0].timestamp == start


async def test_minute_history_with_start_and_count(client: Client, cloud: FakeCloud) -> None:
    history = await client.minute_history(ZAPPI, date(2024, 10, 27), start=time(23, 0), count=90)
    assert cloud.authorized_paths()[-1] == f"/cgi-jday-Z{ZAPPI}-2024-10-27-23-0-90"
    assert len(history.records) == 90 and not history.gaps
    assert history.records[-1].timestamp == datetime(2024, 10, 28, 0, 29, tzinfo=UTC)
    rest = await client.minute_history(ZAPPI, date(2024, 1, 2), start=time(22, 30))
    assert cloud.authorized_paths()[-1] == f"/cgi-jday-Z{ZAPPI}-2024-1-2-22-30-90"
    assert len(rest.records) == 90
    with pytest.raises(ValueError, match=r"1\.\.1440"):
        await client.minute_history(ZAPPI, date(2024, 1, 2), count=1441)
    with pytest.raises(ValueError, match="whole minutes"):
        await client.minute_history(ZAPPI, date(2024, 1, 2), start=time(1, 2, 3))


async def test_hour_history(client: Client, cloud: FakeCloud) -> None:
    day = await client.hour_history(ZAPPI, date(2024, 7, 5))
    assert cloud.authorized_paths()[-1] == f"/cgi-jdayhour-Z{ZAPPI}-2024-7-5"
    assert len(day.records) == 24 and day.resolution is Resolution.HOUR
    part = await client.hour_history(ZAPPI, date(2024, 7, 5), start_hour=22, count=3)
    assert cloud.authorized_paths()[-1] == f"/cgi-jdayhour-Z{ZAPPI}-2024-7-5-22-3"
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
    client: Client, cloud: FakeCloud, tz: str, day: date, hours: int, path: str
) -> None:
    history = await client.local_day(ZAPPI, day, tz, Resolution.HOUR)
    assert len(history.records) == hours
    assert not history.gaps
    assert cloud.authorized_paths()[-1] == f"/cgi-jdayhour-Z{ZAPPI}-{path}"
    local_dates = {r.timestamp.astimezone(ZoneInfo(tz)).date() for r in history.records}
    assert local_dates == {day}


async def test_local_day_minutes_on_a_fall_back_day_takes_two_requests(
    client: Client, cloud: FakeCloud
) -> None:
    history = await client.local_day(ZAPPI, date(2024, 10, 27), "Europe/London", Resolution.MINUTE)
    assert len(history.records) == 1500 and not history.gaps
    assert sorted(cloud.authorized_paths()[-2:]) == [
        f"/cgi-jday-Z{ZAPPI}-2024-10-26-23-0-1440",
        f"/cgi-jday-Z{ZAPPI}-2024-10-27-23-0-60",
    ]
    times = [r.timestamp for r in history.records]
    assert times == sorted(times) and len(set(times)) == 1500


async def test_local_day_reports_gaps_over_the_local_day(cloud: FakeCloud) -> None:
    start = datetime(2024, 3, 30, 23, tzinfo=UTC)
    cloud.routes["/cgi-jdayhour-"] = httpx.Response(
        200, content=history_payload(ZAPPI, start, 23, 3600, missing=[0, 5])
    )
    async with make_client(cloud) as client:
        history = await client.local_day(
            ZAPPI, date(2024, 3, 31), "Europe/Amsterdam", Resolution.HOUR
        )
    assert len(history.records) == 21
    assert [(g.start, g.missing) for g in history.gaps] == [
        (start, 1),
        (start + timedelta(hours=5), 1),
    ]


async def test_local_day_unknown_zone(client: Client) -> None:
    with pytest.raises(ConfigError):
        await client.local_day(ZAPPI, date(2024, 1, 1), "Nowhere/Land", Resolution.HOUR)


async def test_local_day_that_does_not_exist_is_empty(client: Client, cloud: FakeCloud) -> None:
    history = await client.local_day(ZAPPI, date(2011, 12, 30), "Pacific/Apia", Resolution.HOUR)
    assert history.records == () and history.serial == ZAPPI
    assert client.requests_sent == 0


# --- commands (built and checked by zapledger.control; see tests/test_control*.py) -----------

STOP_BOOST = f"/cgi-zappi-mode-Z{ZAPPI}-0-2-0-0000"


async def test_a_command_is_one_get_of_its_path(client: Client, cloud: FakeCloud) -> None:
    assert await client.command(STOP_BOOST) == {"status": 0, "statustext": ""}
    assert cloud.authorized_paths() == [STOP_BOOST]


@pytest.mark.parametrize("path", ["/cgi-jstatus-*", "cgi-zappi-mode-Z1-1-0-0-0000", "/x?y=1"])
async def test_only_command_paths_are_sent(client: Client, path: str) -> None:
    with pytest.raises(ValueError, match="not a command path"):
        await client.command(path)
    assert client.requests_sent == 0


@pytest.mark.parametrize("status", [-14, "-14"])
async def test_command_error_codes(cloud: FakeCloud, status: int | str) -> None:
    cloud.routes["/cgi-zappi-mode-"] = httpx.Response(
        200, json={"status": status, "statustext": ""}
    )
    async with make_client(cloud) as client:
        with pytest.raises(CommandError) as info:
            await client.command(f"/cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000")
    assert info.value.code == -14
    assert info.value.meaning == "invalid parameter"
    assert info.value.endpoint == f"cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000"
    assert len(cloud.authorized_paths()) == 1  # refused commands are not retried


async def test_command_busy_and_unknown_codes(cloud: FakeCloud) -> None:
    cloud.routes["/cgi-zappi-mode-"] = httpx.Response(
        200, json={"status": "-26", "statustext": "busy", "asn": HOME}
    )
    cloud.routes["/cgi-set-priority-"] = httpx.Response(200, json={"status": -99})
    async with make_client(cloud) as client:
        with pytest.raises(CommandError, match=r"device busy\): busy"):
            await client.command(f"/cgi-zappi-mode-Z{ZAPPI}-0-10-3-0000")
        with pytest.raises(CommandError, match="unknown"):
            await client.command(f"/cgi-set-priority-Z{ZAPPI}-1")


@pytest.mark.parametrize(
    "answer",
    [{"status": "0", "statustext": ""}, {"status": 0, "asn": HOME}, {"status": 1}, {"mgl": 5}],
)
async def test_command_ok_answers(cloud: FakeCloud, answer: dict[str, Any]) -> None:
    cloud.routes["/cgi-zappi-mode-"] = httpx.Response(200, json=answer)
    async with make_client(cloud) as client:
        assert await client.command(STOP_BOOST) == answer


@pytest.mark.parametrize("answer", [{"status": "x"}, {"status": True}, [0]])
async def test_command_bad_answers(cloud: FakeCloud, answer: Any) -> None:
    cloud.routes["/cgi-zappi-mode-"] = httpx.Response(200, json=answer)
    async with make_client(cloud) as client:
        with pytest.raises(BadResponseError, match="cgi-zappi-mode"):
            await client.command(STOP_BOOST)


# --- politeness ------------------------------------------------------------------------------


async def test_rate_limit_spaces_requests(cloud: FakeCloud) -> None:
    rate = 20.0
    async with make_client(cloud, rate_limit_per_s=rate, max_concurrency=8) as client:
        await warm(client)  # 2 wire requests, 1 client request
        await asyncio.gather(*(client.app_names() for _ in range(6)))
    starts = [s.at for s in cloud.seen[2:]]
    assert len(starts) == 6
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / rate * 0.8
    assert starts[-1] - starts[0] >= 5 / rate * 0.9


async def test_rate_limiter_off_and_on() -> None:
    off = RateLimiter(None)
    started = wallclock.monotonic()
    for _ in range(50):
        await off.acquire()
    assert wallclock.monotonic() - started < 0.05
    on = RateLimiter(50.0)
    started = wallclock.monotonic()
    for _ in range(6):
        await on.acquire()
    assert wallclock.monotonic() - started >= 5 / 50 * 0.9


async def test_rate_limiter_never_exceeds_the_rate_in_any_second() -> None:
    rate = 8.0
    limiter = RateLimiter(rate)
    starts = []
    for _ in range(20):
        await limiter.acquire()
        starts.append(wallclock.monotonic())
    for i, first in enumerate(starts):
        in_window = [t for t in starts[i:] if t - first < 1.0]
        assert len(in_window) <= rate


async def test_digest_challenges_count_against_the_rate(cloud: FakeCloud) -> None:
    rate = 20.0
    async with make_client(cloud, rate_limit_per_s=rate, max_concurrency=4) as client:
        await asyncio.gather(*(client.app_names() for _ in range(30)))
    arrivals = [s.at for s in cloud.seen]
    assert len(arrivals) > 30  # the challenge of the first request is on the wire too
    for i, first in enumerate(arrivals):
        assert len([t for t in arrivals[i:] if t - first < 1.0]) <= rate


async def test_concurrency_cap(cloud: FakeCloud) -> None:
    cloud.delay_s = 0.03
    async with make_client(cloud, max_concurrency=2) as client:
        await warm(client)
        cloud.max_in_flight = 0
        await asyncio.gather(*(client.app_names() for _ in range(8)))
    assert cloud.max_in_flight == 2


async def test_default_politeness(cloud: FakeCloud) -> None:
    client = Client(HUB, KEY, transport=cloud.transport())
    assert client.base_url == DIRECTOR
    started = wallclock.monotonic()
    await client.app_names()
    await client.app_names()  # the default 2 per second spaces starts 0.5 s apart
    assert wallclock.monotonic() - started >= 0.45
    await client.aclose()
    await client.aclose()


# --- secrets ---------------------------------------------------------------------------------


async def test_the_key_never_shows(cloud: FakeCloud, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with make_client(cloud, max_attempts=2) as client:
        texts.append(repr(client))
        await client.site_status()
        failures: list[Reply] = [
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(200, content=fixture("client_error_page.html")),
            httpx.Response(200, content=fixture("client_error_page.html")),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"status": "-14"}),
        ]
        cloud.scripted += failures
        for call in (client.site_status, client.site_status, client.app_names):
            with pytest.raises(ApiError) as info:
                await call()
            texts += [str(info.value), repr(info.value), repr(info.value.__cause__)]
        with pytest.raises(CommandError) as cmd:
            await client.command(STOP_BOOST)
        texts += [str(cmd.value), repr(cmd.value)]
        cloud.key = "changed"
        with pytest.raises(AuthenticationError) as auth:
            await client.site_status()
        texts += [str(auth.value), repr(auth.value)]
        texts.append(repr(client))
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.__dict__) for r in caplog.records]
    assert any("GET https://" in t for t in texts)  # the debug log is there
    assert any(r.name == "zapledger.client" for r in caplog.records)
    for text in texts:
        assert KEY not in text
    assert repr(client) == f"Client(hub_serial='{HUB}', server='https://{HOME}')"
    assert not any(KEY in s.user_agent for s in cloud.seen)


async def test_a_read_refused_with_a_status_code_is_a_command_error(cloud: FakeCloud) -> None:
    cloud.routes["/cgi-jdayhour-"] = httpx.Response(200, json={"status": "-14", "statustext": ""})
    cloud.routes["/cgi-jstatus-Z"] = httpx.Response(200, json={"status": -13})
    async with make_client(cloud) as client:
        with pytest.raises(CommandError) as info:
            await client.hour_history(ZAPPI, date(2024, 3, 5), start_hour=3, count=2)
        assert info.value.code == -14
        assert info.value.endpoint == f"cgi-jdayhour-Z{ZAPPI}-2024-3-5-3-2"
        with pytest.raises(CommandError, match="serial not found"):
            await client.zappi_status("999")
        cloud.routes["/cgi-jstatus-Z"] = httpx.Response(200, json={"status": 0})
        with pytest.raises(BadResponseError):
            await client.zappi_status("999")
        cloud.routes["/cgi-jstatus-Z"] = httpx.Response(200, json={"status": "odd"})
        with pytest.raises(BadResponseError):
            await client.zappi_status("999")


async def test_local_day_errors_are_not_wrapped_in_groups(cloud: FakeCloud) -> None:
    cloud.routes["/cgi-jday-"] = httpx.Response(400)
    async with make_client(cloud) as client:
        with pytest.raises(ServerError) as info:
            await client.local_day(ZAPPI, date(2024, 10, 27), "Europe/London", Resolution.MINUTE)
    assert info.value.status == 400
