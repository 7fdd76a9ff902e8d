"""Request statistics of the simulator (what a client did to the cloud)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["SimStats", "StatsRecorder"]


@dataclass(frozen=True)
class SimStats:
    """A snapshot of the request counters since start (or the last ``reset_stats``)."""

    total: int = 0
    #: "status", "jday", "jdayhour", "command", "boost-time", "app-key", "other"
    by_kind: dict[str, int] = field(default_factory=dict)
    #: "director", "asn1", "asn2", ...
    by_server: dict[str, int] = field(default_factory=dict)
    #: HTTP status of the answers sent (timeouts send none and are not counted here)
    by_status: dict[int, int] = field(default_factory=dict)
    #: faults injected, by kind (random, forced and corrupt-day alike)
    faults: dict[str, int] = field(default_factory=dict)
    #: the most requests that arrived within any 1-second window
    max_per_second: int = 0
    #: the most requests being handled at the same time
    max_concurrent: int = 0
    account_moves: int = 0


class StatsRecorder:
    """Thread-safe counters behind :class:`SimStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counters (requests in flight stay in flight)."""
        with self._lock:
            self._total = 0
            self._kind: Counter[str] = Counter()
            self._server: Counter[str] = Counter()
            self._status: Counter[int] = Counter()
            self._faults: Counter[str] = Counter()
            self._window: deque[float] = deque()
            self._max_per_s = 0
            self._max_concurrent = 0
            self._moves = 0

    def begin(self, server: str, kind: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._total += 1
            self._kind[kind] += 1
            self._server[server] += 1
            self._window.append(now)
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            self._max_per_s = max(self._max_per_s, len(self._window))
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)

    def end(self) -> None:
        """A request ended without an answer (timeout fault, stop, broken connection)."""
        with self._lock:
            self._in_flight -= 1

    def answered(self, status: int) -> None:
        """An answer is about to be sent: the request stops counting as in flight."""
        with self._lock:
            self._status[status] += 1
            self._in_flight -= 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def moved(self) -> None:
        with self._lock:
            self._moves += 1

    def snapshot(self) -> SimStats:
        with self._lock:
            return SimStats(
                total=self._total,
                by_kind=dict(self._kind),
                by_server=dict(self._server),
                by_status=dict(self._status),
                faults=dict(self._faults),
                max_per_second=self._max_per_s,
                max_concurrent=self._max_concurrent,
                account_moves=self._moves,
            )
