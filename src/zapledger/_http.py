"""The wire half of :class:`zapledger.Client`: server discovery, digest auth, politeness, retries.

One ``GET`` goes through httpx with digest auth, whose every request on the wire (challenges
included) waits for the pacer of the server it goes to (:mod:`zapledger.pacing`: adaptive rate
and concurrency, ``Retry-After``), and teaches it. Every response, intermediate digest challenges
and 401s included, may name the server that holds the account (``X_MYENERGI-asn``); the next
request goes there. An answer that names none sends the next request back to the director;
failures never do (that would double the requests). Transient failures are retried by
:mod:`stamina` with exponential backoff and jitter; ``Retry-After`` replaces the backoff.
A 429 is no failure: it is waited out (the pacer holds the server) and the request sent again, for
up to ``throttle_patience_s``.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Literal, TypeVar

import httpx
import msgspec
import stamina

from .exceptions import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    CloudConnectionError,
    CloudTimeoutError,
    ConfigError,
    RateLimitedError,
    ServerError,
)
from .models import MAX_JSON_BYTES
from .pacing import Outcome, Pacing
from .redact import redact

__all__ = ["ASN_HEADER", "Wire", "server_from_asn", "server_name"]

T = TypeVar("T")

logger = logging.getLogger("zapledger.client")

ASN_HEADER = "x_myenergi-asn"
#: A garbled body (truncated JSON, an HTML page with status 200) is tried at most this many times.
GARBLED_ATTEMPTS = 3
#: A 401 naming another server is followed at most this many times per attempt.
MAX_MOVES = 3
_ASN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::(\d{1,5}))?$")

_Kind = Literal["timeout", "connection", "server", "rate", "garbled", "moved"]


def server_from_asn(configured: httpx.URL, asn: str | None) -> httpx.URL | None:
    """The server an ``X_MYENERGI-asn`` value names, with the scheme (and path) of ``configured``.

    None for a missing, empty, ``undefined`` or malformed value.
    """
    if asn is None:
        return None
    value = asn.strip()
    match = _ASN_RE.match(value)
    if not value or value.lower() == "undefined" or match is None:
        return None
    host = value.split(":", 1)[0]
    port = int(match.group(1)) if match.group(1) else None
    if port is not None and not 0 < port < 65536:
        return None
    return configured.copy_with(host=host, port=port)


def _same_server(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def server_name(url: httpx.URL) -> str:
    """``host[:port]`` of a URL: the key of a server's pacer."""
    return url.netloc.decode("ascii")


class _BodyTooLarge(Exception):
    """An answer longer than the wire reads: raised while its body streams in."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is longer than {limit:,} bytes")
        self.limit = limit


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed ``response``, read no further than ``limit`` bytes.

    An endless answer (or a compressed one that unpacks without end) costs no more memory than
    the limit; a ``Content-Length`` beyond it is refused before reading.
    """
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class _PacedTransport(httpx.AsyncBaseTransport):
    """Makes every request that goes on the wire wait for its server's pacer, and teaches it.

    Digest challenges and retries are requests too: pacing here, below the auth flow, is what keeps
    the server's count within what the pacer allows.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, pacing: Pacing, max_block_s: float) -> None:
        self._inner = inner
        self._pacing = pacing
        self._max_block_s = max_block_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pacer = self._pacing.server(server_name(request.url))
        started = await pacer.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            pacer.release(started, Outcome.FAILED)
            raise
        except BaseException:
            pacer.release(started, Outcome.NEUTRAL)
            raise
        status = response.status_code
        after = _retry_after_s(response)
        if after is not None:
            after = min(after, self._max_block_s)
        if status == 429:
            pacer.release(started, Outcome.THROTTLED, after)
        elif status >= 500:
            pacer.release(started, Outcome.FAILED, after)
        elif status == 401:
            anonymous = "authorization" not in request.headers
            pacer.release(started, Outcome.CHALLENGE if anonymous else Outcome.NEUTRAL)
        else:
            pacer.release(started, Outcome.CLEAN)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ClientTransport(httpx.AsyncBaseTransport):
    """Sends each wire request through a caller's ``httpx.AsyncClient`` (its proxies, TLS, hooks).

    It sits below the pacer and the digest flow, so a caller's client is paced like our own. The
    caller owns that client: closing zapledger's side leaves it open.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # streamed: the wire reads the body, and no further than it will
        response = await self._client.send(request, auth=None, follow_redirects=False, stream=True)
        headers = response.headers
        stream: httpx.AsyncByteStream
        try:
            content = response.content  # read already (an in-memory transport), and decoded
        except httpx.ResponseNotRead:
            stream = _ResponseBody(response)
        else:
            decoded = ("content-encoding", "content-length")
            headers = httpx.Headers([(k, v) for k, v in headers.multi_items() if k not in decoded])
            stream = httpx.ByteStream(content)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=stream,
            request=request,
            extensions=response.extensions,
        )


class _ResponseBody(httpx.AsyncByteStream):
    """The body of a caller's client's streamed response; closing it closes that response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class _Retryable(Exception):
    """A transient failure of one attempt; becomes the public error when the attempts run out."""

    def __init__(
        self,
        kind: _Kind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.attempts = 1

    def public(self, endpoint: str, attempts: int) -> ApiError:
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})"
        text = f"{endpoint}: {self.message}{tail}"
        if self.kind == "timeout":
            return CloudTimeoutError(text, endpoint=endpoint)
        if self.kind == "connection":
            return CloudConnectionError(text, endpoint=endpoint)
        if self.kind == "rate":
            return RateLimitedError(text, endpoint=endpoint, retry_after_s=self.retry_after_s)
        if self.kind == "server":
            return ServerError(text, endpoint=endpoint, status=self.status or 500)
        if self.kind == "moved":
            return AuthenticationError(text, endpoint=endpoint)
        return BadResponseError(text, endpoint=endpoint)


def _retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds: delta-seconds (a float is accepted too) or an HTTP date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _garbled(body: bytes) -> bool:
    """A body that is not JSON at all: a transient glitch worth retrying, unlike a wrong shape."""
    head = body[:200].lstrip()
    if not head or head.startswith(b"<"):
        return True
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return True
    return False


class Wire:
    """HTTP to the myenergi cloud; returns decoded values or raises zapledger's typed errors."""

    def __init__(
        self,
        hub_serial: str,
        api_key: str,
        *,
        director_url: str,
        timeout_s: float,
        max_concurrency: int,
        rate_limit_per_s: float | None,
        adaptive: bool,
        throttle_patience_s: float,
        max_attempts: int,
        backoff_initial_s: float,
        backoff_max_s: float,
        transport: httpx.AsyncBaseTransport | None,
        user_agent: str,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not hub_serial:
            raise ConfigError("the hub serial is empty")
        if not api_key:
            raise ConfigError("the API key is empty")
        if api_key in user_agent:
            raise ConfigError("the User-Agent must not contain the API key")
        try:
            director = httpx.URL(director_url)
        except httpx.InvalidURL:
            raise ConfigError(f"director URL {redact(director_url)!r} is not a URL") from None
        if director.scheme not in ("http", "https") or not director.host:
            raise ConfigError(
                f"director URL {redact(director_url)!r} should be http(s)://host[:port]"
            )
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if rate_limit_per_s is not None and not rate_limit_per_s > 0:
            raise ValueError("rate_limit_per_s must be positive (or None for no cap)")
        if throttle_patience_s < 0:
            raise ValueError("throttle_patience_s must not be negative")
        if timeout_s <= 0 or backoff_initial_s < 0 or backoff_max_s < 0:
            raise ValueError("timeout_s must be positive and the backoff times not negative")
        self.hub_serial = hub_serial
        self.director = director
        self.base = director
        self.requests_sent = 0
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.throttle_patience_s = throttle_patience_s
        self.pacing = Pacing(
            hub_serial,
            max_rate_per_s=rate_limit_per_s,
            max_concurrency=max_concurrency,
            adaptive=adaptive,
        )
        if http_client is not None and transport is not None:
            raise ValueError("give a transport or an http_client, not both")
        inner = (
            _ClientTransport(http_client)
            if http_client is not None
            else transport or httpx.AsyncHTTPTransport()
        )
        paced = _PacedTransport(inner, self.pacing, max(backoff_max_s, 0.001))
        self._http = httpx.AsyncClient(
            auth=httpx.DigestAuth(hub_serial, api_key),
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            transport=paced,
            follow_redirects=False,
            event_hooks={"request": [self._count]},
        )

    async def _count(self, request: httpx.Request) -> None:
        self.requests_sent += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    def _url(self, path: str) -> httpx.URL:
        return httpx.URL(str(self.base).rstrip("/") + path)

    def _follow(self, response: httpx.Response) -> None:
        """Move to the server named by the last response (challenges included) that names one.

        An answer from the server in use that names none (no header, ``undefined``) sends the next
        request back to the director, the one place that knows where the account is. Failures
        (429, 5xx) say nothing about that: an error page without the header is no reason to ask
        the director again, which would double the requests while the cloud is struggling.
        """
        named = False
        for r in (*response.history, response):
            server = server_from_asn(self.director, r.headers.get(ASN_HEADER))
            if server is None:
                continue
            named = True
            if not _same_server(server, self.base):
                logger.info(
                    "account is served by %s (was %s)", redact(str(server)), redact(str(self.base))
                )
                self.base = server
        failed = response.status_code == 429 or response.status_code >= 500
        if (
            not named
            and not failed
            and _same_server(response.request.url, self.base)
            and not _same_server(self.base, self.director)
        ):
            logger.info(
                "%s named no server for the account; asking the director again",
                redact(str(self.base)),
            )
            self.base = self.director

    async def _send(self, path: str) -> tuple[httpx.Response, bytes]:
        """GET ``path`` on the current server: the answer and its body (at most 16 MiB)."""
        url = self._url(path)
        shown = redact(str(url))  # a director URL may carry user info
        logger.debug("GET %s", shown)
        started = time.monotonic()
        try:
            async with self._http.stream("GET", url) as response:
                body = await _read_capped(response, MAX_JSON_BYTES)
        except httpx.TimeoutException as exc:
            logger.debug("GET %s: timeout (%s)", shown, type(exc).__name__)
            raise _Retryable("timeout", f"no answer within {self.timeout_s:g} s") from exc
        except httpx.DecodingError as exc:
            raise _Retryable("garbled", f"undecodable body ({exc})") from exc
        except _BodyTooLarge as exc:
            logger.debug("GET %s: %s", shown, exc)
            endpoint = path.lstrip("/")
            raise BadResponseError(
                f"{endpoint}: {exc}, more than any answer of the cloud can be",
                endpoint=endpoint,
            ) from None
        except httpx.RequestError as exc:
            logger.debug("GET %s: %s", shown, type(exc).__name__)
            detail = str(exc) or type(exc).__name__
            raise _Retryable("connection", f"cannot reach {url.host}: {detail}") from exc
        logger.debug(
            "GET %s -> %d (%d bytes, %.3f s)",
            shown,
            response.status_code,
            len(body),
            time.monotonic() - started,
        )
        self._follow(response)
        return response, body

    def _refused_elsewhere(self, response: httpx.Response) -> bool:
        """A 401 naming another server than the one it came from: the account is moving.

        Judged from the response alone, not from ``self.base``, which other requests in flight
        may have moved on in the meantime.
        """
        named = server_from_asn(self.director, response.headers.get(ASN_HEADER))
        return (
            response.status_code == 401
            and named is not None
            and not _same_server(named, response.request.url)
        )

    async def _attempt(self, path: str, endpoint: str, decode: Callable[[bytes], T]) -> T:
        response, body = await self._send(path)
        moves = 0
        # A 401 from a server that no longer holds the account (the answer named another one):
        # try the new server, at most MAX_MOVES times, then back off and try again.
        while self._refused_elsewhere(response) and moves < MAX_MOVES:
            moves += 1
            sent_to = response.request.url.netloc.decode()
            logger.info("%s: 401 from %s; account moved to %s", endpoint, sent_to, self.base)
            response, body = await self._send(path)
        status = response.status_code
        if self._refused_elsewhere(response):
            raise _Retryable("moved", "401 Unauthorized while the account kept moving servers")
        if status == 401:
            raise AuthenticationError(
                f"{endpoint}: 401 Unauthorized (check the hub serial and the API key)",
                endpoint=endpoint,
            )
        if status == 429:
            after = _retry_after_s(response)
            raise _Retryable("rate", "429 Too Many Requests", status=429, retry_after_s=after)
        if status >= 500:
            raise _Retryable(
                "server",
                f"HTTP {status} {response.reason_phrase}".rstrip(),
                status=status,
                retry_after_s=_retry_after_s(response),
            )
        if status != 200:
            raise ServerError(
                f"{endpoint}: unexpected HTTP {status} {response.reason_phrase}".rstrip(),
                endpoint=endpoint,
                status=status,
            )
        try:
            return decode(body)
        except BadResponseError as exc:
            if _garbled(body):
                raise _Retryable("garbled", str(exc).removeprefix(f"{endpoint}: ")) from None
            raise

    async def get(self, path: str, decode: Callable[[bytes], T]) -> T:
        """GET ``path`` on the current server and decode the 200 body, retrying transient failures.

        A 429 is waited out: the server's pacer holds every request to it until ``Retry-After``
        has passed (capped at ``backoff_max_s``), then this one goes again, for as long as the
        throttling lasts up to ``throttle_patience_s`` (then :class:`RateLimitedError`). Retried
        with backoff (``max_attempts`` in all): connection errors, timeouts, 5xx (``Retry-After``
        honoured), garbled bodies (at most :data:`GARBLED_ATTEMPTS` tries) and a 401 from a server
        that no longer holds the account (the account is moving). Never retried: a 401 from the
        server that holds it (wrong credentials), other 4xx, and a well-formed payload of the
        wrong shape.
        """
        endpoint = path.lstrip("/")
        throttled_since: float | None = None
        while True:
            try:
                return await self._get_retrying(path, endpoint, decode)
            except _Retryable as exc:
                if exc.kind != "rate":
                    raise exc.public(endpoint, exc.attempts) from exc.__cause__
                now = time.monotonic()
                throttled_since = now if throttled_since is None else throttled_since
                if now - throttled_since >= self.throttle_patience_s:
                    raise exc.public(endpoint, exc.attempts) from exc.__cause__
                logger.debug("%s: 429, waiting for the server to allow it", endpoint)

    async def _get_retrying(self, path: str, endpoint: str, decode: Callable[[bytes], T]) -> T:
        attempts = 0
        garbled = 0

        def should_retry(exc: Exception) -> bool | float:
            nonlocal garbled
            if not isinstance(exc, _Retryable) or exc.kind == "rate":
                return False
            if exc.kind == "garbled":
                garbled += 1
                if garbled >= GARBLED_ATTEMPTS:
                    return False
            if exc.retry_after_s is not None:
                return min(exc.retry_after_s, self.backoff_max_s)
            return True

        try:
            async for attempt in stamina.retry_context(
                on=should_retry,
                attempts=self.max_attempts,
                timeout=None,
                wait_initial=self.backoff_initial_s,
                wait_max=self.backoff_max_s,
                wait_jitter=min(1.0, self.backoff_max_s),
            ):
                with attempt:
                    attempts += 1
                    return await self._attempt(path, endpoint, decode)
        except _Retryable as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover
