"""Fault injection for the simulator: random per-request faults, forced ones, corrupt days.

A fault *kind* is one of :data:`FAULT_KINDS`:

``500`` / ``503``  an HTML error page with that status;
``429``            Too Many Requests with ``Retry-After: <retry_after_s>``;
``timeout``        the server holds the request without answering for ``timeout_s``, then closes;
``html``           an HTML page with status 200 (random draws pick 200 or 502 half the time);
``html502``        an HTML page with status 502;
``truncated``      status 200, the first half of the real JSON body (Content-Length matches it);
``401``            a spurious 401 digest challenge, whatever the credentials.

Random faults are drawn from a RNG seeded by the simulator seed: one draw per request in arrival
order, so a single-threaded client sees the same faults on every run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields
from datetime import date

__all__ = ["FAULT_KINDS", "FaultPlan", "Faults"]

FAULT_KINDS: tuple[str, ...] = (
    "500",
    "503",
    "429",
    "timeout",
    "html",
    "html502",
    "truncated",
    "401",
)

#: spec key -> Faults field holding its probability
_RATE_KEYS: dict[str, str] = {
    "500": "p500",
    "503": "p503",
    "429": "p429",
    "timeout": "p_timeout",
    "html": "p_html",
    "truncated": "p_truncated",
    "401": "p401",
}
_OTHER_KEYS = ("asn-change", "retry-after", "timeout-s")


@dataclass(frozen=True)
class Faults:
    """Per-request fault probabilities and fault parameters; ``Faults()`` injects nothing."""

    p500: float = 0.0
    p503: float = 0.0
    p429: float = 0.0
    p_timeout: float = 0.0
    p_html: float = 0.0
    p_truncated: float = 0.0
    p401: float = 0.0
    #: Move the account to another server after every N requests (all servers counted).
    asn_change_every: int | None = None
    #: Value of the Retry-After header on 429 answers, in seconds.
    retry_after_s: int = 1
    #: How long a ``timeout`` fault holds the connection before closing it without an answer.
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.startswith("p"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"fault probability {f.name}={value} is not within 0..1")
        if sum(self.rates().values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")
        if self.asn_change_every is not None and self.asn_change_every < 1:
            raise ValueError(f"asn-change must be at least 1 request, not {self.asn_change_every}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry-after must be >= 0 seconds, not {self.retry_after_s}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout-s must be > 0 seconds, not {self.timeout_s}")

    def rates(self) -> dict[str, float]:
        """Probability per fault kind (spec keys), zeros included."""
        return {key: float(getattr(self, name)) for key, name in _RATE_KEYS.items()}

    @property
    def active(self) -> bool:
        return any(self.rates().values()) or self.asn_change_every is not None

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        """Parse ``"500=0.05,429=0.02,timeout=0.01,html=0.02,truncated=0.02,asn-change=200"``.

        Also ``503=``, ``401=``, ``retry-after=<s>``, ``timeout-s=<s>``; ``""`` or ``"none"``
        means no faults.
        """
        text = (spec or "").strip()
        if text.lower() in ("", "none", "off"):
            return cls()
        values: dict[str, object] = {}
        seen: set[str] = set()
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = (part.strip() for part in item.partition("="))
            key = key.lower()
            if not sep or not value:
                raise ValueError(f"fault spec item {item!r} is not KEY=VALUE (in {text!r})")
            if key not in _RATE_KEYS and key not in _OTHER_KEYS:
                known = ", ".join([*_RATE_KEYS, *_OTHER_KEYS])
                raise ValueError(f"unknown fault {key!r} in {text!r}; known: {known}")
            if key in seen:
                raise ValueError(f"fault {key!r} given twice in {text!r}")
            seen.add(key)
            try:
                if key == "asn-change":
                    values["asn_change_every"] = int(value)
                elif key == "retry-after":
                    values["retry_after_s"] = int(value)
                elif key == "timeout-s":
                    values["timeout_s"] = float(value)
                else:
                    values[_RATE_KEYS[key]] = float(value)
            except ValueError:
                raise ValueError(f"fault {key!r} has a bad value {value!r} (in {text!r})") from None
        return cls(**values)  # type: ignore[arg-type]

    def spec(self) -> str:
        """The spec string that :meth:`parse` turns back into these faults."""
        parts = [f"{key}={rate:g}" for key, rate in self.rates().items() if rate]
        if self.asn_change_every is not None:
            parts.append(f"asn-change={self.asn_change_every}")
        if self.retry_after_s != 1:
            parts.append(f"retry-after={self.retry_after_s}")
        if self.timeout_s != 30.0:
            parts.append(f"timeout-s={self.timeout_s:g}")
        return ",".join(parts) or "none"


def check_kind(kind: str) -> str:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return kind


@dataclass
class _Forced:
    kind: str
    remaining: int
    path_contains: str | None


class FaultPlan:
    """The runtime side: decides, request by request, which fault (if any) to inject."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"{seed}:faults")
        self._forced: list[_Forced] = []
        self._corrupt: dict[date, str] = {}
        self._requests = 0
        self._lock = threading.Lock()

    def fail_next(self, kind: str, count: int = 1, path_contains: str | None = None) -> None:
        check_kind(kind)
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        with self._lock:
            self._forced.append(_Forced(kind, count, path_contains))

    def corrupt_day(self, day: date, kind: str) -> None:
        check_kind(kind)
        with self._lock:
            self._corrupt[day] = kind

    def clear(self) -> None:
        """Forget forced faults and corrupt days (random faults stay)."""
        with self._lock:
            self._forced.clear()
            self._corrupt.clear()

    def corrupted(self, day: date) -> str | None:
        with self._lock:
            return self._corrupt.get(day)

    def count_request(self) -> bool:
        """Count a request; True when the ``asn-change`` fault says the account moves now."""
        with self._lock:
            self._requests += 1
            every = self.faults.asn_change_every
            return every is not None and self._requests % every == 0

    def draw(self, path: str) -> str | None:
        """The fault for this request: a forced one first, else a random draw."""
        with self._lock:
            for forced in self._forced:
                if forced.path_contains is None or forced.path_contains in path:
                    forced.remaining -= 1
                    if forced.remaining == 0:
                        self._forced.remove(forced)
                    return forced.kind
            rates = self.faults.rates()
            if not any(rates.values()):
                return None
            u = self._rng.random()
            for kind, rate in rates.items():
                if u < rate:
                    if kind == "html" and self._rng.random() < 0.5:
                        return "html502"
                    return kind
                u -= rate
            return None
