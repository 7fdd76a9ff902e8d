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

Beside the faults, scripted behaviour for client tests (all on :class:`FaultPlan`):

- :class:`Answer`: an authenticated request whose path contains a text gets a scripted reply
  (any status, body, headers, ``X_MYENERGI-asn`` renamed or left out) instead of the endpoint's;
- the director may refuse authenticated requests (401 naming the holder), and refusals may move
  the account again (an account moving during the move);
- the account may move right after answering a request (the 200 names the new holder);
- the ``X_MYENERGI-asn`` header of every answer may be renamed, given another value or left out.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from ._httpserver import ASN_HEADER

__all__ = ["FAULT_KINDS", "Answer", "AsnHeader", "FaultPlan", "Faults"]

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


@dataclass(frozen=True)
class AsnHeader:
    """How answers name the holder: header ``name`` (None: no header) and ``value`` (None: the
    real ``host:port`` of the holder)."""

    name: str | None = ASN_HEADER
    value: str | None = None


@dataclass(frozen=True)
class Answer:
    """A scripted reply to an authenticated request, in place of the endpoint's own.

    ``status``/``body`` None keep the endpoint's own status/body (so only headers change);
    ``asn`` None keeps the simulator's ``X_MYENERGI-asn`` header as it is.
    """

    status: int | None = 200
    body: bytes | None = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    asn: AsnHeader | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kw: Any) -> Answer:
        """A JSON body (e.g. a command's ``{"status": -14}``, a history envelope)."""
        return cls(status, json.dumps(payload).encode(), **kw)

    @classmethod
    def page(cls, status: int, body: bytes, **kw: Any) -> Answer:
        """An HTML page (a proxy's error page, a maintenance page) with that status."""
        return cls(status, body, "text/html; charset=iso-8859-1", **kw)


@dataclass
class _Forced:
    kind: str
    remaining: int
    path_contains: str | None


@dataclass
class _Scripted:
    answer: Answer
    #: None: every matching request until cleared
    remaining: int | None
    path_contains: str | None


@dataclass
class _Script:
    """The scripted (non-random) behaviour: answers, refusals and moves."""

    answers: list[_Scripted] = field(default_factory=list)
    director_refuses: bool = False
    moves_on_refusal: int = 0
    move_after: list[str | None] = field(default_factory=list)
    asn: AsnHeader = AsnHeader()


def _matches(path_contains: str | None, path: str) -> bool:
    return path_contains is None or path_contains in path


class FaultPlan:
    """The runtime side: decides, request by request, which fault (if any) to inject."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"{seed}:faults")
        self._forced: list[_Forced] = []
        self._corrupt: dict[date, str] = {}
        self._requests = 0
        self._script = _Script()
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
        """Forget forced faults, corrupt days and scripted behaviour (random faults stay)."""
        with self._lock:
            self._forced.clear()
            self._corrupt.clear()
            self._script = _Script()

    # -- scripted behaviour ------------------------------------------------------------------

    def answer(
        self, answer: Answer, count: int | None = 1, path_contains: str | None = None
    ) -> None:
        """The next ``count`` (None: all) authenticated requests whose raw path contains
        ``path_contains`` get ``answer``; scripts queue in the order given."""
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1 (or None), not {count}")
        with self._lock:
            self._script.answers.append(_Scripted(answer, count, path_contains))

    def take_answer(self, path: str) -> Answer | None:
        """The scripted answer for this authenticated request, if any (it is used up)."""
        with self._lock:
            for scripted in self._script.answers:
                if _matches(scripted.path_contains, path):
                    if scripted.remaining is not None:
                        scripted.remaining -= 1
                        if scripted.remaining == 0:
                            self._script.answers.remove(scripted)
                    return scripted.answer
        return None

    @property
    def answers_left(self) -> int:
        """Scripted answers not yet given (those without a count are not counted)."""
        with self._lock:
            return sum(a.remaining or 0 for a in self._script.answers)

    @property
    def director_refuses(self) -> bool:
        """The director answers authenticated requests 401 naming the holder, as asn servers
        that do not hold the account do."""
        return self._script.director_refuses

    @director_refuses.setter
    def director_refuses(self, value: bool) -> None:
        with self._lock:
            self._script.director_refuses = value

    def move_on_refusal(self, count: int) -> None:
        """The next ``count`` refusals (authenticated, wrong server) each move the account on."""
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        with self._lock:
            self._script.moves_on_refusal = count

    def take_refusal_move(self) -> bool:
        with self._lock:
            if self._script.moves_on_refusal <= 0:
                return False
            self._script.moves_on_refusal -= 1
            return True

    @property
    def refusal_moves_left(self) -> int:
        return self._script.moves_on_refusal

    def move_after_next(self, path_contains: str | None = None) -> None:
        """Move the account right after the next authenticated request whose path contains
        ``path_contains``; its answer already names the new holder."""
        with self._lock:
            self._script.move_after.append(path_contains)

    def take_move_after(self, path: str) -> bool:
        with self._lock:
            for i, wanted in enumerate(self._script.move_after):
                if _matches(wanted, path):
                    del self._script.move_after[i]
                    return True
        return False

    @property
    def asn_header(self) -> AsnHeader:
        """How every answer names the holder (unless a scripted answer says otherwise)."""
        return self._script.asn

    @asn_header.setter
    def asn_header(self, value: AsnHeader) -> None:
        with self._lock:
            self._script.asn = value

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
