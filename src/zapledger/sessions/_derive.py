"""Sessions from the stored minutes and status snapshots of one zappi: pure, no store, no clock.

The rules (``docs/sessions.md``): a minute with energy into the car (diverted or boosted) belongs
to a session. Two consecutive energy minutes ``a < b`` belong to the same session unless

1. a snapshot taken in a minute ``u`` with ``a <= u < b`` shows the car unplugged (``pst`` A),
2. the stored minutes between them, all without energy, last at least ``pause``, or
3. more than ``max_missing`` minutes between them are not stored.

Missing minutes never count as a pause: nobody knows whether the car charged in them. Hours
whose minutes are all stored and idle may be given as blocks instead of minute by minute.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from ..models import StatusSnapshot, find_gaps
from ._model import ChargeSession, EndReason, SessionMinute

__all__ = ["PLUGGED", "UNPLUGGED", "derive_sessions"]

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
#: ``pst`` of a car that is not connected (``PlugStatus.EV_DISCONNECTED``).
UNPLUGGED = "A"
#: ``pst`` of a connected car: B1/B2 plugged, C1/C2 ready or charging (F, a fault, is neither).
PLUGGED = frozenset({"B1", "B2", "C1", "C2"})


def _minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


class _Snapshots:
    """The snapshots of one zappi, indexed by time for the few questions sessions ask."""

    def __init__(self, snapshots: Sequence[StatusSnapshot]) -> None:
        self.items = sorted(snapshots, key=lambda s: s.timestamp)
        self.times = [s.timestamp for s in self.items]
        unplugged = [s for s in self.items if s.plug_status == UNPLUGGED]
        self.unplug_times = [s.timestamp for s in unplugged]
        self.unplug_minutes = [_minute_of(t) for t in self.unplug_times]

    def unplug_between(self, a: datetime, b: datetime) -> datetime | None:
        """The first unplugged snapshot taken in a minute ``a <= u < b``."""
        i = bisect_left(self.unplug_minutes, a)
        if i < len(self.unplug_minutes) and self.unplug_minutes[i] < b:
            return self.unplug_times[i]
        return None

    def modes(self, start: datetime, end: datetime) -> tuple[str, ...]:
        """Mode names of the snapshots in ``[start, end)``, each once, in the order seen."""
        lo, hi = bisect_left(self.times, start), bisect_left(self.times, end)
        seen: dict[str, None] = {}
        for s in self.items[lo:hi]:
            if s.mode is not None:
                seen.setdefault(s.mode, None)
        return tuple(seen)

    def plugged_in(self, start: datetime, end: datetime) -> datetime | None:
        """The first snapshot showing the car plugged after the last one before ``start``'s
        minute ended that showed it unplugged; None without such a pair."""
        i = bisect_left(self.unplug_times, start + MINUTE)
        if i == 0:
            return None
        after = self.unplug_times[i - 1]
        j = bisect_right(self.times, after)
        hi = bisect_left(self.times, end)
        for s in self.items[j:hi]:
            if s.plug_status in PLUGGED:
                return s.timestamp
        return None


class _Idle:
    """Stored minutes without energy, counted over the minutes given one by one plus the quiet
    hours given as blocks (every minute stored, none with energy; never inside a session as
    long as the pause is at most an hour)."""

    def __init__(self, times: Sequence[datetime], quiet_hours: Sequence[datetime]) -> None:
        self.times = times
        self.quiet = sorted(quiet_hours)
        ends = [times[-1] + MINUTE] + ([self.quiet[-1] + HOUR] if self.quiet else [])
        self.data_end = max(ends)

    def between(self, a: int, b: int) -> int:
        """Idle minutes between the energy minutes at indexes ``a < b`` (none in between)."""
        blocks = bisect_left(self.quiet, self.times[b]) - bisect_left(self.quiet, self.times[a])
        return b - a - 1 + 60 * blocks

    def after(self, last: int) -> int:
        """Idle minutes after the last energy minute (index ``last``)."""
        blocks = len(self.quiet) - bisect_left(self.quiet, self.times[last])
        return len(self.times) - last - 1 + 60 * blocks


def _split(
    idle: _Idle, a: int, b: int, snaps: _Snapshots, pause: timedelta, max_missing: timedelta
) -> EndReason | None:
    """Why the energy minutes at indexes ``a`` and ``b`` (consecutive) are in two sessions."""
    times = idle.times
    if snaps.unplug_between(times[a], times[b]) is not None:
        return EndReason.UNPLUG
    stored = idle.between(a, b)
    if stored * MINUTE >= pause:
        return EndReason.PAUSE
    missing = (times[b] - times[a]) // MINUTE - 1 - stored
    if missing * MINUTE > max_missing:
        return EndReason.MISSING_DATA
    return None


def _tail(idle: _Idle, last: int, snaps: _Snapshots, pause: timedelta) -> EndReason:
    """Why the last session of the data ended (OPEN: the data ends before the pause is over)."""
    if snaps.unplug_between(idle.times[last], idle.data_end + pause) is not None:
        return EndReason.UNPLUG
    if idle.after(last) * MINUTE >= pause:
        return EndReason.PAUSE
    return EndReason.OPEN


def derive_sessions(
    serial: str,
    minutes: Sequence[SessionMinute],
    snapshots: Sequence[StatusSnapshot],
    *,
    pause: timedelta,
    max_missing: timedelta,
    quiet_hours: Sequence[datetime] = (),
) -> list[ChargeSession]:
    """Every session in ``minutes`` (stored minutes of one zappi, sorted and unique).

    ``quiet_hours`` are the UTC starts of hours left out of ``minutes`` because all 60 of their
    minutes are stored and none has energy; only allowed with a pause of at most an hour, where
    such an hour always ends a session.
    """
    if quiet_hours and pause > HOUR:
        raise ValueError("quiet hours can stand in for their minutes only with a pause <= 1 h")
    times = [m.start for m in minutes]
    energy = [i for i, m in enumerate(minutes) if m.diverted_j + m.boosted_j > 0]
    if not energy:
        return []
    snaps = _Snapshots(snapshots)
    idle = _Idle(times, quiet_hours)
    runs: list[tuple[int, int, EndReason]] = []
    first = energy[0]
    for a, b in pairwise(energy):
        reason = _split(idle, a, b, snaps, pause, max_missing)
        if reason is not None:
            runs.append((first, a, reason))
            first = b
    runs.append((first, energy[-1], _tail(idle, energy[-1], snaps, pause)))

    out: list[ChargeSession] = []
    for n, (i0, i1, reason) in enumerate(runs):
        start, end = times[i0], times[i1] + MINUTE
        following = times[runs[n + 1][0]] if n + 1 < len(runs) else idle.data_end + pause
        gaps = find_gaps(times[i0 : i1 + 1], start, end, 60)
        out.append(
            ChargeSession(
                serial=serial,
                start=start,
                end=end,
                minutes=tuple(minutes[i0 : i1 + 1]),
                missing=tuple((g.start, g.end) for g in gaps),
                modes=snaps.modes(start, end),
                plugged_in_at=snaps.plugged_in(start, end),
                unplugged_at=snaps.unplug_between(times[i1], following),
                end_reason=reason,
            )
        )
    return out
