"""EV charge sessions, derived from the stored minute history (and status snapshots, if any).

The zappi's own "charge added" (``che``) resets every session and is only a live value; the
per-session truth is in the minute history: ``h1d..h3d`` (diverted, solar) and ``h1b..h3b``
(boosted, grid) joules per minute. Reads the store only, never the network.

>>> report = sessions(store, date(2024, 3, 1), date(2024, 3, 31), "Europe/London")
>>> for s in report.sessions:
...     s.start, s.end, s.energy_j, s.diverted_j, s.boosted_j, s.modes, s.missing

Rules (details in ``docs/sessions.md``): energy into the car starts a session; it ends after
``pause`` (default 30 min) of stored minutes without energy, or where a status snapshot shows
the car unplugged (``pst`` A), or where more than :data:`MAX_MISSING_JOIN` of minutes are
missing. Minutes missing inside a session are listed (``ChargeSession.missing``), never filled
in. A range selects the sessions that *start* within its local days; a session running past the
range end is completed from the data after it (up to :data:`MARGIN`).

For pricing (cost code): every :class:`ChargeSession` keeps its stored minutes as
``session.minutes``, a tuple of :class:`SessionMinute` ``(start, diverted_j, boosted_j)`` with
``start`` the aware UTC start of the minute, in time order, idle minutes included and missing
minutes absent (``session.missing`` names them). Sessions are keyed by ``session.key`` =
``(serial, start)``; the same data always gives the same sessions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from ..exceptions import UsageError
from ..localtime import local_day_window
from ..models import Resolution
from ..ranges import resolve_range
from ._derive import derive_sessions
from ._model import ChargeSession, EndReason, SessionMinute, SessionReport

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "DEFAULT_PAUSE",
    "MARGIN",
    "MAX_MISSING_JOIN",
    "MAX_PAUSE",
    "ChargeSession",
    "EndReason",
    "SessionMinute",
    "SessionReport",
    "derive_sessions",
    "sessions",
]

#: A session ends after this long without energy into the car.
DEFAULT_PAUSE = timedelta(minutes=30)
#: The longest pause accepted: the data read around a range (:data:`MARGIN`) must cover it.
MAX_PAUSE = timedelta(days=1)
#: More missing minutes than this between two minutes with energy end a session: a long outage
#: says nothing about whether the car stayed plugged.
MAX_MISSING_JOIN = timedelta(hours=3)
#: Data read before and after the range: a session that started in the range is completed from
#: up to this much data after it, and one that began before the range is recognised as such.
MARGIN = timedelta(days=1)


def sessions(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
    pause: timedelta = DEFAULT_PAUSE,
    now: datetime | None = None,
) -> SessionReport:
    """The charge sessions that start within the local days ``first_day``..``last_day``.

    ``serial=None`` means every stored zappi. Open ends follow ``ranges.resolve_range`` (by
    default the month of ``last_day``, today when it is None).
    """
    if not timedelta(minutes=1) <= pause <= MAX_PAUSE:
        raise UsageError(f"the pause must be from one minute to a day, got {pause}")
    now = now or datetime.now(UTC)
    first, last = resolve_range(store, first_day, last_day, tz, serial=serial, now=now)
    range_start = local_day_window(first, tz)[0]
    range_end = local_day_window(last, tz)[1]
    lo = range_start - MARGIN - pause - MAX_MISSING_JOIN
    hi = range_end + MARGIN
    serials = [serial] if serial is not None else store.zappi_serials()
    found: list[ChargeSession] = []
    for sn in serials:
        minutes, quiet = _read_minutes(store, sn, lo, hi, pause)
        snapshots = store.statuses(sn, lo, hi)
        derived = derive_sessions(
            sn, minutes, snapshots, pause=pause, max_missing=MAX_MISSING_JOIN, quiet_hours=quiet
        )
        found += [s for s in derived if range_start <= s.start < range_end]
    found.sort(key=lambda s: (s.start, s.serial))
    return SessionReport(first, last, tz, serial, pause, tuple(found))


def _read_minutes(
    store: Store, serial: str, lo: datetime, hi: datetime, pause: timedelta
) -> tuple[list[SessionMinute], list[datetime]]:
    """The stored minutes of ``[lo, hi)`` that can matter, and the quiet hours left out.

    Energy buckets rather than HistoryRecords: the EV energy summed in SQL, far cheaper. First
    per hour: an hour with all 60 minutes stored and no EV energy (most of them) always ends a
    session when the pause is at most an hour, so it is passed as one block; the minutes of the
    other hours are read one by one.
    """
    hour_s, minute_s = 3600, 60
    if pause > timedelta(hours=1):
        spans = [(lo, hi)]
        quiet: list[datetime] = []
    else:
        spans, quiet = [], []
        for b in store.iter_energy(serial, Resolution.MINUTE, lo, hi, bucket_s=hour_s):
            idle = b.records == 60 and not (b.energy.diverted_j or b.energy.boosted_j)
            if idle and lo <= b.start and b.start + timedelta(hours=1) <= hi:
                quiet.append(b.start)
                continue
            start, end = max(b.start, lo), min(b.start + timedelta(hours=1), hi)
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    minutes = [
        SessionMinute(b.start, b.energy.diverted_j, b.energy.boosted_j)
        for start, end in spans
        for b in store.iter_energy(serial, Resolution.MINUTE, start, end, bucket_s=minute_s)
    ]
    return minutes, quiet
