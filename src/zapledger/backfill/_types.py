"""The values a sync run plans, reports while it runs, and returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ..models import History, Resolution

__all__ = [
    "DayFailed",
    "DayFailure",
    "DayReason",
    "DayWritten",
    "HistorySource",
    "PlannedDay",
    "SyncEvent",
    "SyncPlanned",
    "SyncSummary",
]


class HistorySource(Protocol):
    """What a sync needs of :class:`zapledger.client.Client` (a fake will do in tests)."""

    @property
    def requests_sent(self) -> int: ...

    async def local_day(
        self, serial: str, day: date, tz: str, resolution: Resolution
    ) -> History: ...

    async def hour_history(
        self, serial: str, day: date, *, start_hour: int | None = None, count: int | None = None
    ) -> History: ...


class DayReason(enum.StrEnum):
    """Why a day is in the plan."""

    MISSING = "missing"
    NOT_FINAL = "not final"
    GAPS = "gaps"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PlannedDay:
    """One local day of one device at one resolution that a run will fetch, and why."""

    serial: str
    resolution: Resolution
    day: date
    reason: DayReason


@dataclass(frozen=True, slots=True)
class DayFailure:
    serial: str
    resolution: Resolution
    day: date
    reason: str


@dataclass(frozen=True, slots=True)
class SyncPlanned:
    """The plan is made: ``days`` will be fetched, about ``records_expected`` records in all."""

    serial: str
    days: tuple[PlannedDay, ...]
    records_expected: int


@dataclass(frozen=True, slots=True)
class DayWritten:
    """A day's rows and sync state are committed."""

    serial: str
    resolution: Resolution
    day: date
    records: int
    missing: int
    final: bool
    requests: int
    #: the pacing when the day was written: requests/s allowed, in flight, refused (429) so far
    rate_per_s: float = 0.0
    in_flight: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class DayFailed:
    """Fetching a day failed; the reason is in its sync state."""

    serial: str
    resolution: Resolution
    day: date
    reason: str
    requests: int
    rate_per_s: float = 0.0
    in_flight: int = 0
    refused: int = 0


SyncEvent = SyncPlanned | DayWritten | DayFailed


@dataclass
class SyncSummary:
    """What one run did. ``ok`` is false when any day failed."""

    serial: str
    since: date
    until: date
    planned: tuple[PlannedDay, ...] = ()
    dry_run: bool = False
    days_written: int = 0
    #: records fetched and committed (an identical rerun commits them again, changing no row)
    records_written: int = 0
    #: rows inserted or changed in the database
    rows_changed: int = 0
    days_with_gaps: int = 0
    days_not_final: int = 0
    failures: list[DayFailure] = field(default_factory=list)
    requests: int = 0
    #: requests the cloud refused with 429 (each waited out and sent again)
    refused: int = 0
    #: times the cloud throttled (episodes of 429s, each cutting the pace once)
    throttled: int = 0
    #: the requests per second the pacing allowed at the end of the run
    rate_per_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "first_day": self.since.isoformat(),
            "last_day": self.until.isoformat(),
            "dry_run": self.dry_run,
            "planned": [
                {
                    "day": p.day.isoformat(),
                    "resolution": p.resolution.value,
                    "reason": p.reason.value,
                }
                for p in self.planned
            ],
            "days_written": self.days_written,
            "records_written": self.records_written,
            "rows_changed": self.rows_changed,
            "days_with_gaps": self.days_with_gaps,
            "days_not_final": self.days_not_final,
            "failures": [
                {"day": f.day.isoformat(), "resolution": f.resolution.value, "reason": f.reason}
                for f in self.failures
            ],
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "ok": self.ok,
        }
