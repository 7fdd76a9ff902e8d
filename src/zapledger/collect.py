"""The collector daemon: status snapshots, hourly history as hours complete, nightly minutes.

Three loops on one event loop share a client (so its rate limit and concurrency cap hold for all):

- every ``status_interval_s`` (60 s; never faster than the pacing's learned rate allows, and
  backing off towards :data:`MAX_STATUS_INTERVAL_S` while the cloud throttles) a
  ``cgi-jstatus-*`` snapshot of the hub's zappis is stored, and a zappi whose own clock lags by
  more than ``stale_after`` is reported (once, and again when it is back);
- after every completed hour (plus ``hour_delay_s``) the hour history of the days that are not
  final yet is synced;
- every night at ``nightly_at`` (local) the minute history of the settled days is synced.

A failure is logged as one line and retried with exponential backoff (up to ``backoff_max_s``);
no error a cloud or a database can produce stops the daemon. Stopping (the ``stop`` event, which the
CLI sets on SIGTERM/SIGINT) cancels what waits on the network; a day's write runs in a thread that
a cancel does not interrupt, and the store's lock holds ``close()`` until it is done, so the write
in hand is always finished and each day stays whole.

Time comes from a :class:`Clock` (``now`` and ``sleep``), so tests drive it instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from .backfill import HistorySource, SyncSummary, default_since, sync_zappi
from .exceptions import AuthenticationError, ZapledgerError
from .health import DEFAULT_STALE_AFTER, zappi_health
from .localtime import DEFAULT_SETTLE, is_settled, parse_tz
from .models import Resolution, SiteStatus, ZappiStatus
from .pacing import Pacing
from .store import Store

__all__ = [
    "MAX_STATUS_INTERVAL_S",
    "MIN_STATUS_INTERVAL_S",
    "Clock",
    "CollectorConfig",
    "CollectorSource",
    "CollectorStats",
    "SystemClock",
    "config_warnings",
    "last_settled_day",
    "next_daily",
    "next_period",
    "run_collector",
]

logger = logging.getLogger("zapledger.collect")

#: Polling the status faster than this has earned clients HTTP 429.
MIN_STATUS_INTERVAL_S = 30.0
#: While the cloud throttles, the status interval doubles up to this.
MAX_STATUS_INTERVAL_S = 300.0


class Clock(Protocol):
    """Where the collector gets the time and waits: the system's, or a test's."""

    def now(self) -> datetime:
        """Aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class CollectorSource(HistorySource, Protocol):
    """What the collector needs of :class:`zapledger.client.Client`."""

    async def site_status(self) -> SiteStatus: ...


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """How often the collector does what. Defaults suit the real cloud."""

    tz: str
    #: zappis to collect; empty: every zappi the hub reports
    serials: tuple[str, ...] = ()
    status_interval_s: float = 60.0
    #: the hour history is synced once per period (an hour), this long after the period ends
    hour_period_s: float = 3600.0
    hour_delay_s: float = 120.0
    #: local time of the nightly minute sync (after the night's day has settled)
    nightly_at: time = time(7, 0)
    #: run the minute sync every this many seconds instead of nightly (tests, catching up)
    minute_period_s: float | None = None
    #: where the history starts on a database that has none (default: yesterday)
    since: date | None = None
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 900.0
    settle: timedelta = DEFAULT_SETTLE
    #: called with the store after each hour sync (e.g. the Home Assistant statistics import);
    #: a failure is logged and left for the next hour
    after_hour: Callable[[Store], Awaitable[object]] | None = None
    #: a zappi whose reading lags the clock by more than this has stopped reporting
    stale_after: timedelta = DEFAULT_STALE_AFTER
    #: called with every good status poll and its time (the Prometheus exporter's hook)
    on_status: Callable[[SiteStatus, datetime], object] | None = None


@dataclass
class CollectorStats:
    """What a collector run did (for tests and the closing log line)."""

    statuses: int = 0
    hour_syncs: int = 0
    minute_syncs: int = 0
    days_written: int = 0
    problems: int = 0
    #: status polls the cloud answered with 429 (the interval backs off)
    throttled: int = 0
    #: zappis that stopped reporting, as of the last status
    stale: set[str] = field(default_factory=set)
    #: the interval the status loop waits now (60 s, longer while throttled)
    status_interval_s: float = 0.0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def config_warnings(config: CollectorConfig) -> list[str]:
    """Settings that work but are unwise (said once at start)."""
    out: list[str] = []
    if config.status_interval_s < MIN_STATUS_INTERVAL_S:
        out.append(
            f"status every {config.status_interval_s:g} s is more often than every "
            f"{MIN_STATUS_INTERVAL_S:g} s: the cloud may answer 429 Too Many Requests"
        )
    return out


def next_period(now_s: float, period_s: float, delay_s: float = 0.0) -> float:
    """The first instant after ``now_s`` that is ``delay_s`` past a multiple of ``period_s``."""
    n = math.floor((now_s - delay_s) / period_s) + 1
    return n * period_s + delay_s


def next_daily(now: datetime, at: time, tz: str) -> datetime:
    """The next local wall-clock ``at`` in ``tz`` strictly after ``now`` (aware UTC)."""
    zone = parse_tz(tz)
    local_today = now.astimezone(zone).date()
    for offset in range(3):
        day = local_today + timedelta(days=offset)
        candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a local time recurs within three days")  # pragma: no cover


def last_settled_day(tz: str, now: datetime, settle: timedelta = DEFAULT_SETTLE) -> date:
    """The latest local day whose data is final at ``now``."""
    day = now.astimezone(parse_tz(tz)).date()
    while not is_settled(day, tz, now, settle):
        day -= timedelta(days=1)
    return day


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Collector:
    def __init__(
        self,
        client: CollectorSource,
        store: Store,
        config: CollectorConfig,
        stop: asyncio.Event,
        clock: Clock,
        stats: CollectorStats,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.stop = stop
        self.clock = clock
        self.stats = stats
        stats.started_at = clock.now()
        stats.status_interval_s = config.status_interval_s
        self.serials: list[str] = list(config.serials)
        pacing = getattr(client, "pacing", None)
        self.pacing = pacing if isinstance(pacing, Pacing) else None

    def now_s(self) -> float:
        return self.clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        """Wait on the clock, or return early when asked to stop."""
        if seconds <= 0 or self.stop.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()

    def problem(self, what: str, exc: BaseException, retry_s: float) -> None:
        self.stats.problems += 1
        hint = " (check the hub serial and API key)" if isinstance(exc, AuthenticationError) else ""
        logger.warning("%s failed: %s%s; retrying in %.0f s", what, _one_line(exc), hint, retry_s)

    async def guarded(self, what: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Run ``job`` until it succeeds (backing off between failures) or a stop; True if done."""
        wait = self.config.backoff_initial_s
        while not self.stop.is_set():
            try:
                await job()
            except (ZapledgerError, OSError) as exc:
                self.problem(what, exc, wait)
            except Exception as exc:  # a bug must not kill a daemon that runs for months
                self.stats.problems += 1
                logger.exception(
                    "%s failed unexpectedly: %s; retrying in %.0f s", what, _one_line(exc), wait
                )
            else:
                return True
            await self.sleep(wait)
            wait = min(self.config.backoff_max_s, wait * 2)
        return False

    # --- status ----------------------------------------------------------------------------

    async def status_once(self) -> None:
        refused = self.refused()
        try:
            site = await self.client.site_status()
        finally:
            self.after_status(throttled=self.refused() > refused)
        fetched_at = self.clock.now()
        for zappi in site.zappis:
            if not self.config.serials or zappi.serial in self.config.serials:
                self.store.add_status(zappi, fetched_at)
                self.stats.statuses += 1
                self.check_reporting(zappi, fetched_at)
        if not self.serials:
            self.serials = [z.serial for z in site.zappis]
        if self.config.on_status is not None:
            self.config.on_status(site, fetched_at)
        if self.pacing is not None:
            await asyncio.to_thread(self.pacing.save)

    def refused(self) -> int:
        return 0 if self.pacing is None else self.pacing.snapshot().refused

    def after_status(self, *, throttled: bool) -> None:
        """The next interval: doubled (up to 5 min) after a throttled poll, halved back towards
        the configured one after a clean poll, never shorter than the learned rate allows."""
        stats = self.stats
        usual = self.config.status_interval_s
        if throttled:
            stats.throttled += 1
            interval = max(usual, min(MAX_STATUS_INTERVAL_S, 2 * stats.status_interval_s))
            logger.warning(
                "the cloud throttles: status every %.0f s until it stops refusing", interval
            )
        else:
            interval = max(usual, stats.status_interval_s / 2)
        learned = 0.0 if self.pacing is None else self.pacing.min_interval_s()
        stats.status_interval_s = max(interval, learned)

    def check_reporting(self, zappi: ZappiStatus, at: datetime) -> None:
        """Say so when a zappi stops reporting to the cloud, and when it is back."""
        health = zappi_health(zappi, at, self.config.stale_after)
        if health.stale and health.serial not in self.stats.stale:
            self.stats.stale.add(health.serial)
            logger.warning("%s; the cloud still answers", health.describe())
        elif not health.stale and health.serial in self.stats.stale:
            self.stats.stale.discard(health.serial)
            logger.info("zappi %s reports again", health.serial)

    async def status_loop(self) -> None:
        while not self.stop.is_set():
            started = self.now_s()
            await self.guarded("status", self.status_once)
            await self.sleep(self.stats.status_interval_s - (self.now_s() - started))

    # --- history ---------------------------------------------------------------------------

    async def sync_resolution(self, resolution: Resolution) -> None:
        now = self.clock.now()
        tz = self.config.tz
        if resolution is Resolution.MINUTE:
            until = last_settled_day(tz, now, self.config.settle)
        else:
            until = now.astimezone(parse_tz(tz)).date()
        fresh = self.config.since or (now.astimezone(parse_tz(tz)).date() - timedelta(days=1))
        for serial in await self.zappi_serials():
            since = default_since(self.store, serial, [resolution]) or fresh
            summary = await sync_zappi(
                self.client,
                self.store,
                serial,
                since,
                until,
                tz,
                [resolution],
                now=now,
                settle=self.config.settle,
            )
            self.report(summary, resolution)

    async def zappi_serials(self) -> Sequence[str]:
        if not self.serials:
            site = await self.client.site_status()
            self.serials = [z.serial for z in site.zappis]
        return self.serials

    def report(self, summary: SyncSummary, resolution: Resolution) -> None:
        self.stats.days_written += summary.days_written
        if resolution is Resolution.MINUTE:
            self.stats.minute_syncs += 1
        else:
            self.stats.hour_syncs += 1
        if summary.days_written:
            logger.info(
                "%s history of %s: %d day(s), %d records, %d request(s)",
                resolution.value,
                summary.serial,
                summary.days_written,
                summary.records_written,
                summary.requests,
            )
        for failure in summary.failures:
            self.stats.problems += 1
            logger.warning(
                "%s history of %s for %s failed: %s (tried again later)",
                resolution.value,
                failure.serial,
                failure.day,
                failure.reason,
            )

    async def hour_loop(self) -> None:
        cfg = self.config
        while not self.stop.is_set():
            await self.guarded("hour history", lambda: self.sync_resolution(Resolution.HOUR))
            await self.after_hour()
            wake = next_period(self.now_s(), cfg.hour_period_s, cfg.hour_delay_s)
            await self.sleep(wake - self.now_s())

    async def after_hour(self) -> None:
        """The ``after_hour`` hook, once: not retried, so that it never holds up the syncs."""
        if self.config.after_hour is None or self.stop.is_set():
            return
        try:
            await self.config.after_hour(self.store)
        except Exception as exc:  # a hook must not stop the daemon either
            self.stats.problems += 1
            logger.warning("after the hour sync: %s; tried again next hour", _one_line(exc))

    async def minute_loop(self) -> None:
        cfg = self.config
        while not self.stop.is_set():
            await self.guarded("minute history", lambda: self.sync_resolution(Resolution.MINUTE))
            if cfg.minute_period_s is not None:
                wake = self.now_s() + cfg.minute_period_s
            else:
                wake = next_daily(self.clock.now(), cfg.nightly_at, cfg.tz).timestamp()
            await self.sleep(wake - self.now_s())


async def run_collector(
    client: CollectorSource,
    store: Store,
    config: CollectorConfig,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    stats: CollectorStats | None = None,
) -> CollectorStats:
    """Collect until ``stop`` is set; returns what was done. Never raises on a transient error.

    ``clock`` gives the time and the waits (default: the system's); ``stats`` (a fresh one by
    default) is filled as the collector goes, for whoever watches it. A client that paces starts
    from the limits the store learned, and the store keeps what it learns at every status poll.
    """
    parse_tz(config.tz)
    if config.status_interval_s <= 0 or config.hour_period_s <= 0:
        raise ValueError("the status interval and the hour period must be positive")
    for warning in config_warnings(config):
        logger.warning("%s", warning)
    collector = _Collector(
        client, store, config, stop, clock or SystemClock(), stats or CollectorStats()
    )
    if collector.pacing is not None:
        collector.pacing.use_memory(store)
    logger.info(
        "collecting: status every %g s, hour history every %g s, minute history %s",
        config.status_interval_s,
        config.hour_period_s,
        f"every {config.minute_period_s:g} s"
        if config.minute_period_s is not None
        else f"nightly at {config.nightly_at:%H:%M} {config.tz}",
    )
    tasks = [
        asyncio.create_task(collector.status_loop(), name="status"),
        asyncio.create_task(collector.hour_loop(), name="hour history"),
        asyncio.create_task(collector.minute_loop(), name="minute history"),
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if collector.pacing is not None:
            await asyncio.to_thread(collector.pacing.save)
    s = collector.stats
    logger.info(
        "stopped: %d status snapshot(s), %d day(s) of history, %d problem(s)",
        s.statuses,
        s.days_written,
        s.problems,
    )
    return s
