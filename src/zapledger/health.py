"""Is the zappi still reporting? Staleness of a status, and a health check a monitor can use.

A zappi can stop syncing to the cloud while the cloud keeps answering: its status then carries an
old ``dat``/``tim`` (the zappi's own clock, UTC). A status whose reading lags the clock by more
than ``stale_after`` is *stale*. The collector logs it, ``zapledger status`` says it, and
``zapledger health`` turns it into an exit code.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .models import SiteStatus, ZappiStatus

__all__ = [
    "DEFAULT_STALE_AFTER",
    "HealthReport",
    "HealthState",
    "StatusSource",
    "ZappiHealth",
    "check_health",
    "reporting_lag",
    "zappi_health",
]

#: A reading older than this (the zappi reports every few seconds when it is online) is stale.
DEFAULT_STALE_AFTER = timedelta(minutes=15)


class HealthState(enum.StrEnum):
    OK = "ok"
    STALE = "stale"


class StatusSource(Protocol):
    async def site_status(self) -> SiteStatus: ...


@dataclass(frozen=True, slots=True)
class ZappiHealth:
    serial: str
    #: the zappi's own time of its last reading (None: the status carried none)
    reading_at: datetime | None
    #: how far that reading lags the clock (None: unknown)
    lag: timedelta | None
    stale: bool

    def describe(self) -> str:
        if self.reading_at is None:
            return f"zappi {self.serial}: the status carries no reading time"
        minutes = (self.lag or timedelta()).total_seconds() / 60
        if self.stale:
            return (
                f"zappi {self.serial} stopped reporting to the cloud: its last reading is "
                f"from {self.reading_at:%Y-%m-%d %H:%M:%S} UTC, {minutes:.0f} min ago"
            )
        return f"zappi {self.serial}: reporting (last reading {minutes:.1f} min ago)"


@dataclass(frozen=True, slots=True)
class HealthReport:
    checked_at: datetime
    zappis: tuple[ZappiHealth, ...]

    @property
    def state(self) -> HealthState:
        return HealthState.STALE if any(z.stale for z in self.zappis) else HealthState.OK


def reporting_lag(status: ZappiStatus, now: datetime) -> timedelta | None:
    """How far the zappi's reading time lags ``now`` (None when the status has none)."""
    if status.timestamp is None:
        return None
    return now - status.timestamp


def zappi_health(
    status: ZappiStatus, now: datetime, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> ZappiHealth:
    lag = reporting_lag(status, now)
    return ZappiHealth(status.serial, status.timestamp, lag, lag is not None and lag > stale_after)


async def check_health(
    client: StatusSource,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    serials: Sequence[str] = (),
    now: datetime | None = None,
) -> HealthReport:
    """Ask the cloud for the status and judge each zappi (``serials``: only those).

    A cloud that cannot be reached raises the client's error (network, auth), which the CLI turns
    into its own exit code.
    """
    site = await client.site_status()
    at = now if now is not None else datetime.now(UTC)
    zappis = tuple(
        zappi_health(z, at, stale_after) for z in site.zappis if not serials or z.serial in serials
    )
    return HealthReport(at, zappis)
