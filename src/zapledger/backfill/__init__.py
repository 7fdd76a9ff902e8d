"""Backfill: fetch the local days the store lacks and commit each one with its sync state.

The only package (with :mod:`zapledger.collect`) where the client and the store meet. A run is a
plan (pure, from the sync state: which days are missing, not final, gappy or failed) and then a
pool of workers that fetch days in calendar order within the client's rate limit and concurrency
cap. Each local day is written with its sync state in one transaction, so a run killed at any
point leaves only whole days behind and the next run picks up exactly what is left.

Nothing here prints: progress goes to an ``on_event`` callback, the result is a
:class:`SyncReport` (a :class:`SyncSummary` per zappi).
"""

from __future__ import annotations

from ._api import HubSource, SyncReport, sync, zappis_to_sync
from ._plan import (
    ABORT_AFTER_FAILURES,
    DEFAULT_FAILURE_RETRIES,
    DEFAULT_GAP_RETRIES,
    DEFAULT_HOUR_CHUNK_DAYS,
    day_reason,
    default_since,
    plan_days,
)
from ._run import split_days, sync_zappi
from ._types import (
    DayFailed,
    DayFailure,
    DayReason,
    DayWritten,
    HistorySource,
    PlannedDay,
    SyncEvent,
    SyncPlanned,
    SyncSummary,
)

__all__ = [
    "ABORT_AFTER_FAILURES",
    "DEFAULT_FAILURE_RETRIES",
    "DEFAULT_GAP_RETRIES",
    "DEFAULT_HOUR_CHUNK_DAYS",
    "DayFailed",
    "DayFailure",
    "DayReason",
    "DayWritten",
    "HistorySource",
    "HubSource",
    "PlannedDay",
    "SyncEvent",
    "SyncPlanned",
    "SyncReport",
    "SyncSummary",
    "day_reason",
    "default_since",
    "plan_days",
    "split_days",
    "sync",
    "sync_zappi",
    "zappis_to_sync",
]
