"""Async client of the myenergi cloud: status, history and commands of a hub's zappis.

Polite by default: requests are paced per server by :mod:`zapledger.pacing` (start modest, grow
while answers are clean, cut on 429/5xx/timeouts/latency jumps, nothing sent before a
``Retry-After`` has passed), a 429 is waited out, and 5 attempts with exponential backoff and
jitter cover connection errors, timeouts and 5xx. The
server holding the account is discovered through the director and followed on every response.
The API key is only ever handed to httpx's digest auth: it is in no repr, log line or error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo

import httpx
import msgspec

from . import __version__
from ._http import Wire
from .config import Secret
from .exceptions import BadResponseError, CommandError, UsageError
from .localtime import (
    HistoryRequest,
    check_range,
    local_day_window,
    local_days,
    merge_histories,
    parse_tz,
    requests_for_local_day,
    utc_day_window,
)
from .models import (
    History,
    Resolution,
    SiteStatus,
    ZappiStatus,
    decode_history,
    decode_json,
    decode_status,
    decode_zappi,
)
from .pacing import Pacing

__all__ = ["DEFAULT_USER_AGENT", "Client"]

DEFAULT_USER_AGENT = f"zapledger/{__version__}"
_COMMAND_PATH = re.compile(r"^/cgi-[a-z-]+-Z?\d+(?:-[0-9]+)*$")
T = TypeVar("T")


def _serial(serial: str | int) -> str:
    """A zappi serial as the paths want it: digits; a leading ``Z`` (or ``U``) is dropped."""
    text = str(serial).strip()
    if text[:1] in ("Z", "z", "U", "u"):
        text = text[1:]
    if not (text.isascii() and text.isdigit()):
        raise UsageError(f"a zappi serial is digits 0-9, got {str(serial)[:40]!r}")
    return text


def _ymd(day: date) -> str:
    return f"{day.year}-{day.month}-{day.day}"


def _check_count(count: int, what: str) -> None:
    if not 1 <= count <= 1440:
        raise ValueError(f"{what}: count must be 1..1440, got {count}")


def _status_code(payload: Mapping[str, Any], endpoint: str) -> int:
    raw = payload["status"]
    if isinstance(raw, bool):
        raise BadResponseError(f"{endpoint}: 'status' is a boolean", endpoint=endpoint)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise BadResponseError(
            f"{endpoint}: unreadable status {raw!r}", endpoint=endpoint
        ) from None


def _refusal(body: bytes, endpoint: str) -> CommandError | None:
    """A read answered with a negative ``status`` (e.g. -13 unknown serial) is a refusal."""
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(payload, Mapping) or "status" not in payload:
        return None
    try:
        _check_command(payload, endpoint)
    except CommandError as exc:
        return exc
    except BadResponseError:
        return None
    return None


def _reading(endpoint: str, decode: Callable[[bytes], T]) -> Callable[[bytes], T]:
    """``decode``, turning a wrong-shape answer that is a refusal into :class:`CommandError`."""

    def run(body: bytes) -> T:
        try:
            return decode(body)
        except BadResponseError:
            refusal = _refusal(body, endpoint)
            if refusal is None:
                raise
            raise refusal from None

    return run


def _check_command(payload: Any, endpoint: str, *, need_status: bool = True) -> Mapping[str, Any]:
    """The command answer, or :class:`CommandError` for a negative status (also ``"-14"``)."""
    if not isinstance(payload, Mapping):
        raise BadResponseError(
            f"{endpoint}: command answer should be an object, got {type(payload).__name__}",
            endpoint=endpoint,
        )
    if "status" in payload:
        code = _status_code(payload, endpoint)
        if code < 0:
            text = payload.get("statustext")
            raise CommandError(code, endpoint=endpoint, statustext=str(text) if text else "")
    elif need_status:
        raise BadResponseError(f"{endpoint}: command answer has no 'status'", endpoint=endpoint)
    return payload


class Client:
    """The myenergi cloud for one hub (``hub_serial`` + API key).

    Use as ``async with Client(serial, key) as client: ...``. ``rate_limit_per_s`` (None: no cap)
    and ``max_concurrency`` are hard caps on the adaptive pacing of each server (``adaptive=False``
    runs at the caps instead of learning); ``throttle_patience_s`` is how long a request keeps
    waiting out 429s before :class:`~zapledger.RateLimitedError`; ``max_attempts``
    counts the first try; waits grow from ``backoff_initial_s`` by 2x plus up to 1 s of jitter,
    capped at ``backoff_max_s`` (which also caps a ``Retry-After``). Retries use :mod:`stamina`, so
    ``stamina.set_testing(True, ...)`` removes the waits in tests. ``http_client`` sends the
    requests through the caller's own ``httpx.AsyncClient`` (proxies, TLS, event hooks), still
    paced and digest-authenticated by zapledger; the caller keeps it open and closes it.
    """

    def __init__(
        self,
        hub_serial: str,
        api_key: str | Secret,
        *,
        director_url: str = "https://director.myenergi.net",
        timeout_s: float = 20.0,
        max_concurrency: int = 12,
        rate_limit_per_s: float | None = None,
        adaptive: bool = True,
        throttle_patience_s: float = 900.0,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        key = api_key.reveal() if isinstance(api_key, Secret) else api_key
        self._wire = Wire(
            str(hub_serial).strip(),
            key,
            director_url=director_url,
            timeout_s=timeout_s,
            max_concurrency=max_concurrency,
            rate_limit_per_s=rate_limit_per_s,
            adaptive=adaptive,
            throttle_patience_s=throttle_patience_s,
            max_attempts=max_attempts,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            transport=transport,
            user_agent=user_agent or DEFAULT_USER_AGENT,
            http_client=http_client,
        )

    # --- lifecycle and introspection -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        await self._wire.aclose()

    def __repr__(self) -> str:
        return f"Client(hub_serial={self._wire.hub_serial!r}, server={self.base_url!r})"

    @property
    def pacing(self) -> Pacing:
        """The adaptive pacing of this hub's servers: rates, in flight, refusals, learned limits."""
        return self._wire.pacing

    @property
    def hub_serial(self) -> str:
        return self._wire.hub_serial

    @property
    def base_url(self) -> str:
        """The server requests go to now: the director until an answer names the account's one."""
        return str(self._wire.base).rstrip("/")

    @property
    def requests_sent(self) -> int:
        """HTTP requests put on the wire so far, digest challenges and retries included."""
        return self._wire.requests_sent

    # --- status --------------------------------------------------------------------------------

    async def site_status(self) -> SiteStatus:
        """Every device on the hub (``cgi-jstatus-*``)."""
        endpoint = "cgi-jstatus-*"
        return await self._wire.get(
            f"/{endpoint}", _reading(endpoint, lambda b: decode_status(b, endpoint=endpoint))
        )

    async def zappi_status(self, serial: str | None = None) -> ZappiStatus:
        """One zappi's status; without a serial the hub's first zappi."""
        sn = None if serial is None else _serial(serial)
        endpoint = f"cgi-jstatus-Z{sn or ''}"
        decode = _reading(endpoint, lambda b: decode_zappi(b, sn))
        return await self._wire.get(f"/{endpoint}", decode)

    async def zappi_serials(self) -> list[str]:
        """Serials of the hub's zappis, in the order the cloud lists them."""
        return [z.serial for z in (await self.site_status()).zappis]

    async def resolve_zappi(self, serial: str | None = None) -> str:
        """``serial`` itself (checked for shape), else the hub's first zappi."""
        if serial is not None:
            return _serial(serial)
        serials = await self.zappi_serials()
        if not serials:
            raise BadResponseError("the hub reports no zappi")
        return serials[0]

    async def app_names(self) -> dict[str, str]:
        """Names given in the app (``siteName``, ``Z<serial>`` …), from ``cgi-get-app-key-``."""
        endpoint = "cgi-get-app-key-"
        payload = await self._wire.get(f"/{endpoint}", lambda b: decode_json(b, endpoint=endpoint))
        if not isinstance(payload, Mapping):
            raise BadResponseError(f"{endpoint}: should be an object", endpoint=endpoint)
        names: dict[str, str] = {}
        for entries in payload.values():
            if not isinstance(entries, list):
                raise BadResponseError(f"{endpoint}: names should be a list", endpoint=endpoint)
            for entry in entries:
                if not isinstance(entry, Mapping) or "key" not in entry:
                    raise BadResponseError(
                        f"{endpoint}: name entries should be {{key, val}}", endpoint=endpoint
                    )
                value = entry.get("val")
                names[str(entry["key"])] = "" if value is None else str(value)
        return names

    # --- history -------------------------------------------------------------------------------

    async def _history(
        self, path: str, serial: str, resolution: Resolution, window: tuple[datetime, datetime]
    ) -> History:
        endpoint = path.lstrip("/")
        history = await self._wire.get(
            path,
            _reading(
                endpoint, lambda b: decode_history(b, resolution, window=window, endpoint=endpoint)
            ),
        )
        if history.serial and history.serial != serial:
            raise BadResponseError(
                f"{endpoint}: answer is for U{history.serial}, not {serial}", endpoint=endpoint
            )
        return history if history.serial else dataclasses.replace(history, serial=serial)

    async def _run(self, serial: str, request: HistoryRequest, resolution: Resolution) -> History:
        name = "cgi-jday" if resolution is Resolution.MINUTE else "cgi-jdayhour"
        time_part = (
            f"{request.hour}-{request.minute}"
            if resolution is Resolution.MINUTE
            else f"{request.hour}"
        )
        path = f"/{name}-Z{serial}-{_ymd(request.day)}-{time_part}-{request.count}"
        return await self._history(path, serial, resolution, request.window(resolution))

    async def minute_history(
        self, serial: str, day: date, *, start: time | None = None, count: int | None = None
    ) -> History:
        """Per-minute records of one UTC day, or ``count`` minutes from ``start`` (UTC) on ``day``.

        Records outside the asked span (the next day's 00:00 that some days carry) are dropped;
        ``gaps`` lists the missing minutes. ``count`` defaults to the rest of the UTC day.
        """
        sn = _serial(serial)
        if start is None and count is None:
            path = f"/cgi-jday-Z{sn}-{_ymd(day)}"
            return await self._history(path, sn, Resolution.MINUTE, utc_day_window(day))
        first = start or time(0)
        if first.second or first.microsecond or first.tzinfo is not None:
            raise ValueError("start is a naive UTC time of whole minutes")
        at = datetime.combine(day, first, tzinfo=UTC)
        n = count if count is not None else (utc_day_window(day)[1] - at) // timedelta(minutes=1)
        _check_count(n, "minute_history")
        return await self._run(
            sn, HistoryRequest(day, first.hour, first.minute, n), Resolution.MINUTE
        )

    async def hour_history(
        self, serial: str, day: date, *, start_hour: int | None = None, count: int | None = None
    ) -> History:
        """Per-hour records of one UTC day, or ``count`` hours from ``start_hour`` (UTC) on it."""
        sn = _serial(serial)
        if start_hour is None and count is None:
            path = f"/cgi-jdayhour-Z{sn}-{_ymd(day)}"
            return await self._history(path, sn, Resolution.HOUR, utc_day_window(day))
        hour = 0 if start_hour is None else start_hour
        if not 0 <= hour <= 23:
            raise ValueError(f"start_hour must be 0..23, got {hour}")
        n = count if count is not None else 24 - hour
        _check_count(n, "hour_history")
        return await self._run(sn, HistoryRequest(day, hour, 0, n), Resolution.HOUR)

    async def local_day(
        self, serial: str, day: date, tz: str | ZoneInfo, resolution: Resolution
    ) -> History:
        """The records of one local calendar day of ``tz`` (23/24/25 hours, up to 1500 minutes).

        Fetched with one request per 1440 records, one after the other (errors surface as they
        are, not in an exception group), and merged; ``gaps`` are computed over the local day.
        """
        sn = _serial(serial)
        zone = parse_tz(tz)
        window = local_day_window(day, zone, resolution)
        parts = [History(sn, resolution, ())]
        for request in requests_for_local_day(day, zone, resolution):
            parts.append(await self._run(sn, request, resolution))
        return merge_histories(parts, window=window)

    async def local_days(
        self,
        first_day: date,
        last_day: date,
        tz: str | ZoneInfo,
        *,
        serial: str | None = None,
        resolution: Resolution = Resolution.HOUR,
    ) -> list[History]:
        """The local days ``first_day``..``last_day`` (inclusive), one :class:`History` each.

        ``serial=None`` is the hub's first zappi. Fetched one day after the other, in order.
        """
        check_range(first_day, last_day)
        sn = await self.resolve_zappi(serial)
        return [
            await self.local_day(sn, day, tz, resolution) for day in local_days(first_day, last_day)
        ]

    # --- commands ------------------------------------------------------------------------------

    async def command(self, path: str) -> Mapping[str, Any]:
        """Send one command path (built and checked by :mod:`zapledger.control`) and decode it.

        Returns the answer object; a negative ``status`` (also as a string, ``"-14"``) raises
        :class:`CommandError` with its code and meaning. Use :class:`zapledger.control.Controller`
        rather than this: it checks the arguments first and reads the effect back.
        """
        if not _COMMAND_PATH.match(path):
            raise ValueError(f"not a command path: {path!r}")
        endpoint = path.lstrip("/")
        payload = await self._wire.get(path, lambda b: decode_json(b, endpoint=endpoint))
        return _check_command(payload, endpoint, need_status=False)
