"""What arrived at the simulated cloud, request by request, for tests to read back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

__all__ = ["RequestLog", "SeenRequest"]


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server saw it; ``at`` is ``time.monotonic()`` on arrival."""

    at: float
    server: str
    port: int
    path: str
    user_agent: str
    #: the digest answer was valid (whatever the server then answered)
    authorized: bool = False


class RequestLog:
    """Thread-safe, bounded list of :class:`SeenRequest` in arrival order."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []
        self._limit = limit
        #: entries cleared so far: indexes stay valid across :meth:`clear`
        self._base = 0

    def arrived(self, server: str, port: int, path: str, user_agent: str) -> int:
        """Log an arrival; returns its index (for :meth:`authorized`), -1 once the log is full."""
        entry = SeenRequest(time.monotonic(), server, port, path, user_agent)
        with self._lock:
            if len(self._seen) >= self._limit:
                return -1
            self._seen.append(entry)
            return self._base + len(self._seen) - 1

    def authorized(self, index: int) -> None:
        with self._lock:
            at = index - self._base
            if 0 <= at < len(self._seen):
                self._seen[at] = replace(self._seen[at], authorized=True)

    def snapshot(self) -> tuple[SeenRequest, ...]:
        with self._lock:
            return tuple(self._seen)

    def clear(self) -> None:
        with self._lock:
            self._base += len(self._seen)
            self._seen.clear()
