"""Which days a run fetches: pure functions of the sync state and the clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from ..localtime import DEFAULT_SETTLE, local_day_window
from ..models import Resolution
from ..store import Store, SyncState
from ._types import DayReason, PlannedDay

__all__ = [
    "ABORT_AFTER_FAILURES",
    "DEFAULT_FAILURE_RETRIES",
    "DEFAULT_GAP_RETRIES",
    "DEFAULT_HOUR_CHUNK_DAYS",
    "day_reason",
    "default_since",
    "plan_days",
]


#: A settled day with gaps is fetched again this many times: when it is 2, 4, 8 … times the
#: settling time old (12 h, 24 h, 48 h with the default 6 h). A hub that was offline uploads late,
#: so gaps of recent days can still fill in; gaps seen in a backfill of old days are what the
#: cloud has, and an old day is never fetched twice for them.
DEFAULT_GAP_RETRIES = 3
#: A failed day is tried again on later runs until it has failed this many times.
DEFAULT_FAILURE_RETRIES = 5
#: Hourly history of this many consecutive days in one request (at most 1440 hours per request).
DEFAULT_HOUR_CHUNK_DAYS = 30
#: Consecutive connection / rate-limit failures after which a run gives up (the cloud is away).
ABORT_AFTER_FAILURES = 3


# --- planning ------------------------------------------------------------------------------------


def plan_days(
    states: Mapping[date, SyncState],
    days: Iterable[date],
    *,
    serial: str,
    resolution: Resolution,
    tz: str,
    now: datetime,
    settle: timedelta = DEFAULT_SETTLE,
    gap_retries: int = DEFAULT_GAP_RETRIES,
    failure_retries: int = DEFAULT_FAILURE_RETRIES,
) -> list[PlannedDay]:
    """The days of ``days`` that need a fetch, in order (pure: the sync state and the clock).

    Fetched: days without a state (or with one for another zone), days fetched before they
    settled, days whose last fetch failed (until ``failure_retries`` failures in a row), and
    settled days with missing records when they have grown old enough for their next gap retry.
    """
    plan: list[PlannedDay] = []
    for day in days:
        reason = day_reason(
            states.get(day),
            day,
            tz=tz,
            now=now,
            settle=settle,
            gap_retries=gap_retries,
            failure_retries=failure_retries,
        )
        if reason is not None:
            plan.append(PlannedDay(serial, resolution, day, reason))
    return plan


def day_reason(
    state: SyncState | None,
    day: date,
    *,
    tz: str,
    now: datetime,
    settle: timedelta = DEFAULT_SETTLE,
    gap_retries: int = DEFAULT_GAP_RETRIES,
    failure_retries: int = DEFAULT_FAILURE_RETRIES,
) -> DayReason | None:
    """Why one day needs a fetch, or None when its stored rows are as good as they will get."""
    if state is None or state.tz != tz:
        return DayReason.MISSING
    if state.error is not None:
        return DayReason.FAILED if state.attempts < failure_retries else None
    if state.fetched_at is None:
        return DayReason.MISSING
    if not state.final:
        return DayReason.NOT_FINAL
    if state.missing > 0:
        day_end = local_day_window(day, tz)[1]
        fetched_age = state.fetched_at - day_end
        for k in range(1, gap_retries + 1):
            retry_age = settle * 2**k
            if fetched_age < retry_age <= now - day_end:
                return DayReason.GAPS
    return None


def default_since(store: Store, serial: str, resolutions: Sequence[Resolution]) -> date | None:
    """Where a run without ``--since`` starts: the first day ever synced of this device.

    Complete days cost nothing (the plan skips them), so starting there finds the days after the
    last synced one, and also any hole an interrupted run left before it. None when a resolution
    was never synced: the caller has to say where to start.
    """
    first: list[date] = []
    for resolution in resolutions:
        states = store.sync_states(serial, resolution, _EARLIEST, _LATEST)
        if not states:
            return None
        first.append(min(states))
    return min(first) if first else None


_EARLIEST = date(1970, 1, 1)
_LATEST = date(9999, 12, 31)
