"""Cloud conditions of the simulator: a throttle, latency, a history outage.

- :class:`Throttle`: a token bucket per account (the digest user name): ``rate_per_s`` tokens a
  second, at most ``burst`` saved up. A request that finds no token is answered ``429 Too Many
  Requests`` with ``Retry-After`` (whole seconds until a token is there). Requests without
  credentials (the digest challenge round) name no account and are not throttled.
- :class:`Latency`: a fixed delay, or one drawn uniformly from a range, per request.
- :class:`HistoryOutage`: while the simulated clock is inside the window, history answers are
  empty (``empty``) or hold only their first half (``partial``), as in the cloud's
  "History graphs outage".

Specs as the CLI takes them: throttle ``"3"`` or ``"3/s,burst=5"``; latency ``"300"`` or
``"100-900"`` (ms); outage ``"empty"``, ``"partial"`` or ``"partial:30"`` (minutes from start).
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["HistoryOutage", "Latency", "Throttle", "account_of"]

_USERNAME = re.compile(r'username="([^"]*)"')


def account_of(authorization: str | None) -> str | None:
    """The digest user name (the hub serial) of an ``Authorization`` header, if any."""
    if not authorization:
        return None
    match = _USERNAME.search(authorization)
    return match.group(1) if match else None


class Throttle:
    """A token bucket per account; thread-safe. ``take(account)``: None, or seconds to wait."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if not rate_per_s > 0:
            raise ValueError("the throttle rate must be positive")
        self.rate_per_s = rate_per_s
        self.burst = rate_per_s if burst is None else burst
        if self.burst < 1:
            raise ValueError("the throttle burst must be at least 1")
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.refused = 0

    @classmethod
    def parse(cls, spec: str) -> Throttle:
        """``"3"``, ``"3/s"`` or ``"3/s,burst=5"``."""
        head, _, tail = spec.strip().partition(",")
        try:
            rate = float(head.removesuffix("/s"))
            burst = None
            if tail:
                key, _, value = tail.partition("=")
                if key.strip() != "burst":
                    raise ValueError
                burst = float(value)
            return cls(rate, burst)
        except ValueError:
            raise ValueError(f"throttle {spec!r}: use e.g. '3' or '3/s,burst=5'") from None

    def take(self, account: str, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(account, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[account] = (tokens - 1.0, now)
                return None
            self._buckets[account] = (tokens, now)
            self.refused += 1
            return (1.0 - tokens) / self.rate_per_s

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Whole seconds, rounded up (what HTTP's delta-seconds allow)."""
        return str(max(1, math.ceil(wait_s)))


@dataclass(frozen=True)
class Latency:
    """A delay per request: ``low_ms`` when fixed, uniform in ``low_ms..high_ms`` otherwise."""

    low_ms: float = 0.0
    high_ms: float | None = None

    def __post_init__(self) -> None:
        if self.low_ms < 0 or (self.high_ms is not None and self.high_ms < self.low_ms):
            raise ValueError("latency must be >= 0 ms and a range low-high with low <= high")

    @classmethod
    def parse(cls, spec: str | float) -> Latency:
        if isinstance(spec, int | float):
            return cls(float(spec))
        low, sep, high = spec.strip().partition("-")
        try:
            return cls(float(low), float(high) if sep else None)
        except ValueError:
            raise ValueError(f"latency {spec!r}: use e.g. '300' or '100-900' (ms)") from None

    def draw_s(self, rng: random.Random) -> float:
        if self.high_ms is None:
            return self.low_ms / 1000
        return rng.uniform(self.low_ms, self.high_ms) / 1000


@dataclass(frozen=True)
class HistoryOutage:
    """History answers are ``empty`` or ``partial`` while ``start <= now < end`` (None: open)."""

    mode: str = "empty"
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("empty", "partial"):
            raise ValueError(f"outage mode {self.mode!r}: use 'empty' or 'partial'")

    @classmethod
    def parse(cls, spec: str, now: datetime) -> HistoryOutage:
        """``"empty"``/``"partial"``, optionally ``":MINUTES"`` from ``now`` on."""
        mode, sep, minutes = spec.strip().partition(":")
        try:
            end = now + timedelta(minutes=float(minutes)) if sep else None
            return cls(mode, now, end)
        except ValueError:
            raise ValueError(f"outage {spec!r}: use e.g. 'empty' or 'partial:30'") from None

    def active(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)

    def apply(self, body: bytes) -> bytes:
        """The history answer as the outage leaves it: records dropped, envelope kept."""
        try:
            payload = json.loads(body)
        except ValueError:
            return body
        if not isinstance(payload, dict):
            return body
        for key, records in payload.items():
            if isinstance(records, list):
                payload[key] = [] if self.mode == "empty" else records[: len(records) // 2]
        return json.dumps(payload, separators=(",", ":")).encode()
