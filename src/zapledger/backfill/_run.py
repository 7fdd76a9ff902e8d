"""Running a sync: workers fetch planned days in calendar order and commit each day on its own."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from ..exceptions import ApiError, AuthenticationError, CloudConnectionError, RateLimitedError
from ..localtime import (
    DEFAULT_SETTLE,
    MAX_RECORDS_PER_REQUEST,
    expected_records,
    is_settled,
    local_day_window,
    local_days,
    parse_tz,
)
from ..models import Gap, History, HistoryRecord, Resolution, find_gaps
from ..pacing import PaceSnapshot, Pacing
from ..store import Store
from ._plan import (
    ABORT_AFTER_FAILURES,
    DEFAULT_FAILURE_RETRIES,
    DEFAULT_GAP_RETRIES,
    DEFAULT_HOUR_CHUNK_DAYS,
    plan_days,
)
from ._types import (
    DayFailed,
    DayFailure,
    DayWritten,
    HistorySource,
    PlannedDay,
    SyncEvent,
    SyncPlanned,
    SyncSummary,
)

__all__ = ["split_days", "sync_zappi"]


# --- fetching ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One unit of work: a run of consecutive days fetched with one call."""

    resolution: Resolution
    days: tuple[date, ...]


def _items(plan: Sequence[PlannedDay], tz: str, hour_chunk_days: int) -> list[_Item]:
    """Minute days one by one; consecutive hour days in chunks of at most 1440 hours."""
    items: list[_Item] = []
    run: list[date] = []
    hours = 0

    def flush() -> None:
        nonlocal hours
        if run:
            items.append(_Item(Resolution.HOUR, tuple(run)))
            run.clear()
            hours = 0

    for planned in plan:
        if planned.resolution is Resolution.MINUTE:
            items.append(_Item(Resolution.MINUTE, (planned.day,)))
            continue
        n = expected_records(planned.day, tz, Resolution.HOUR)
        contiguous = run and run[-1] + timedelta(days=1) == planned.day
        if run and (
            not contiguous or len(run) >= hour_chunk_days or hours + n > MAX_RECORDS_PER_REQUEST
        ):
            flush()
        run.append(planned.day)
        hours += n
    flush()
    order = {Resolution.MINUTE: 0, Resolution.HOUR: 1}
    items.sort(key=lambda it: (it.days[0], order[it.resolution]))
    return items


def split_days(history: History, days: Sequence[date], tz: str) -> list[tuple[date, History]]:
    """Cut a history spanning consecutive local days into one History per day, gaps per day.

    Duplicates the decoder dropped are booked on the first day (which day they belonged to is
    not known any more).
    """
    step = history.resolution.seconds
    records = history.records
    out: list[tuple[date, History]] = []
    i = 0
    for n, day in enumerate(days):
        start, end = local_day_window(day, tz, history.resolution)
        while i < len(records) and records[i].timestamp < start:
            i += 1
        j = i
        while j < len(records) and records[j].timestamp < end:
            j += 1
        part: tuple[HistoryRecord, ...] = records[i:j]
        gaps = find_gaps([r.timestamp for r in part], start, end, step)
        dups = history.duplicates_dropped if n == 0 else 0
        out.append((day, History(history.serial, history.resolution, part, dups, 0, gaps)))
        i = j
    return out


def _periods(start: datetime, end: datetime, step: timedelta) -> int:
    """How many periods of ``step`` starting at ``start`` begin before ``end`` (0 if none)."""
    return max(0, -((start - end) // step))


def _so_far(history: History, day: date, tz: str, now: datetime) -> tuple[History, int]:
    """A local day as far as it has happened at ``now``: its gaps, and how many records it can hold.

    Periods that start at or after ``now`` are not missing, they are not there yet: gaps that
    start later are dropped and a gap straddling ``now`` keeps only its periods that start before
    it. A day that is over comes back as it is, with its full count of records.
    """
    step = timedelta(seconds=history.resolution.seconds)
    start, end = local_day_window(day, tz, history.resolution)
    if now >= end:
        return history, (end - start) // step
    gaps: list[Gap] = []
    for gap in history.gaps:
        if gap.start >= now:
            continue
        if gap.end > now:
            n = _periods(gap.start, now, step)
            gap = Gap(gap.start, gap.start + n * step, n)
        gaps.append(gap)
    return replace(history, gaps=tuple(gaps)), _periods(start, now, step)


class _Abort(Exception):
    """The cloud is unreachable or keeps refusing: stop the run with ``error``."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


class _Run:
    """State of one sync run: the queue of work, the store, the running totals."""

    def __init__(
        self,
        client: HistorySource,
        store: Store,
        serial: str,
        tz: str,
        *,
        now: datetime | None,
        settle: timedelta,
        on_event: Callable[[SyncEvent], None] | None,
        summary: SyncSummary,
    ) -> None:
        self.client = client
        self.store = store
        self.serial = serial
        self.tz = tz
        self.now = now
        self.settle = settle
        self.on_event = on_event
        self.summary = summary
        self.requests_at_start = client.requests_sent
        self.consecutive_outages = 0
        pacing = getattr(client, "pacing", None)
        self.pacing = pacing if isinstance(pacing, Pacing) else None
        self.pace_at_start = self.pace()

    def pace(self) -> PaceSnapshot:
        if self.pacing is None:
            return PaceSnapshot(0.0, 0, 0, 0, 0, 0, 0)
        return self.pacing.snapshot()

    def refused(self, now: PaceSnapshot) -> int:
        return now.refused - self.pace_at_start.refused

    def _emit(self, event: SyncEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    @property
    def requests(self) -> int:
        return self.client.requests_sent - self.requests_at_start

    def _clock(self) -> datetime:
        return self.now if self.now is not None else datetime.now(UTC)

    async def worker(self, queue: deque[_Item]) -> None:
        while queue:
            item = queue.popleft()
            await self.do(item)

    async def do(self, item: _Item) -> None:
        try:
            parts = await self._fetch(item)
        except AuthenticationError:
            raise
        except ApiError as exc:
            if len(item.days) > 1 and not isinstance(exc, CloudConnectionError | RateLimitedError):
                # one bad day must not take a whole chunk with it: ask day by day
                for day in item.days:
                    await self.do(_Item(item.resolution, (day,)))
                return
            self._failed(item, exc)
            return
        self.consecutive_outages = 0
        fetched_at = self._clock()
        for day, history in parts:
            await self._write(item.resolution, day, history, fetched_at)

    async def _fetch(self, item: _Item) -> list[tuple[date, History]]:
        if len(item.days) == 1:
            day = item.days[0]
            return [(day, await self.client.local_day(self.serial, day, self.tz, item.resolution))]
        start = local_day_window(item.days[0], self.tz, Resolution.HOUR)[0]
        end = local_day_window(item.days[-1], self.tz, Resolution.HOUR)[1]
        count = (end - start) // timedelta(hours=1)
        history = await self.client.hour_history(
            self.serial, start.date(), start_hour=start.hour, count=count
        )
        parts = split_days(history, item.days, self.tz)
        # A server that answers fewer hours than asked leaves the last days empty: ask for those
        # one by one rather than record them as gaps. (Empty days before the first record are
        # days without data, e.g. before the hub was installed: asking again would not help.)
        seen = [n for n, (_, part) in enumerate(parts) if part.records]
        for n in range(seen[-1] + 1 if seen else len(parts), len(parts)):
            day = parts[n][0]
            parts[n] = (
                day,
                await self.client.local_day(self.serial, day, self.tz, Resolution.HOUR),
            )
        return parts

    async def _write(
        self, resolution: Resolution, day: date, history: History, at: datetime
    ) -> None:
        final = is_settled(day, self.tz, at, self.settle)
        # Today's later periods are not missing yet. The store counts as missing at least
        # ``expected - records``, so a day not over yet is expected to hold only its periods
        # that started by ``at`` (the full count once it is over; it is refetched until final).
        history, expected = _so_far(history, day, self.tz, at)
        # In a thread: a commit (and now and then a WAL checkpoint) must not stall the event
        # loop, whose requests are in flight and whose rate limiter keeps time.
        changed = await asyncio.to_thread(
            self.store.write_day,
            self.serial,
            resolution,
            day,
            self.tz,
            history,
            expected=expected,
            final=final,
            fetched_at=at,
        )
        s = self.summary
        s.rows_changed += changed
        s.days_written += 1
        s.records_written += len(history.records)
        s.days_with_gaps += history.missing > 0
        s.days_not_final += not final
        pace = self.pace()
        self._emit(
            DayWritten(
                self.serial,
                resolution,
                day,
                len(history.records),
                history.missing,
                final,
                self.requests,
                pace.rate_per_s,
                pace.in_flight,
                self.refused(pace),
            )
        )

    def _failed(self, item: _Item, exc: ApiError) -> None:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        at = self._clock()
        for day in item.days:
            self.store.record_failure(self.serial, item.resolution, day, self.tz, reason, at)
            self.summary.failures.append(DayFailure(self.serial, item.resolution, day, reason))
            pace = self.pace()
            self._emit(
                DayFailed(
                    self.serial,
                    item.resolution,
                    day,
                    reason,
                    self.requests,
                    pace.rate_per_s,
                    pace.in_flight,
                    self.refused(pace),
                )
            )
        if isinstance(exc, CloudConnectionError | RateLimitedError):
            self.consecutive_outages += 1
            if self.consecutive_outages >= ABORT_AFTER_FAILURES:
                raise _Abort(exc)
        else:
            self.consecutive_outages = 0


async def sync_zappi(
    client: HistorySource,
    store: Store,
    serial: str,
    since: date,
    until: date | None,
    tz: str,
    resolutions: Sequence[Resolution] = (Resolution.MINUTE, Resolution.HOUR),
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    on_event: Callable[[SyncEvent], None] | None = None,
    gap_retries: int = DEFAULT_GAP_RETRIES,
    failure_retries: int = DEFAULT_FAILURE_RETRIES,
    settle: timedelta = DEFAULT_SETTLE,
    concurrency: int | None = None,
    hour_chunk_days: int = DEFAULT_HOUR_CHUNK_DAYS,
) -> SyncSummary:
    """Fetch and store the local days ``since``..``until`` of one zappi that need it.

    ``until`` defaults to (and is capped at) today in ``tz``. ``now`` fixes the clock (tests).
    ``concurrency`` caps the days in flight (default: the client's concurrency cap); how many
    requests actually run at once, and how fast, is the client's pacing's call. A client that
    paces (a :class:`~zapledger.client.Client` does) starts from the limits the store learned in
    earlier runs, and the store keeps what this run learned.
    Failed days are recorded and the run goes on; a run stops early, raising the error, on a 401
    or when the cloud stays unreachable or rate-limiting for several days in a row.
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not 1 <= hour_chunk_days <= MAX_RECORDS_PER_REQUEST // 25:
        raise ValueError(f"hour_chunk_days must be 1..{MAX_RECORDS_PER_REQUEST // 25}")
    zone = parse_tz(tz)
    started = time.monotonic()
    clock = now if now is not None else datetime.now(UTC)
    today = clock.astimezone(zone).date()
    last = today if until is None else min(until, today)
    summary = SyncSummary(serial, since, last, dry_run=dry_run)
    pacing = getattr(client, "pacing", None)
    if isinstance(pacing, Pacing) and not dry_run:
        pacing.use_memory(store)
    days = local_days(since, last)
    plan: list[PlannedDay] = []
    for resolution in dict.fromkeys(resolutions):
        states = store.sync_states(serial, resolution, since, last) if days else {}
        plan += plan_days(
            states,
            days,
            serial=serial,
            resolution=resolution,
            tz=tz,
            now=clock,
            settle=settle,
            gap_retries=gap_retries,
            failure_retries=failure_retries,
        )
    summary.planned = tuple(plan)
    expected = sum(expected_records(p.day, tz, p.resolution) for p in plan)
    if on_event is not None:
        on_event(SyncPlanned(serial, summary.planned, expected))
    if dry_run or not plan:
        summary.elapsed_s = time.monotonic() - started
        return summary
    store.upsert_device(serial, "zappi")
    run = _Run(
        client, store, serial, tz, now=now, settle=settle, on_event=on_event, summary=summary
    )
    if run.pacing is not None:
        # more days in hand than requests allowed in flight: a worker writing its day to the
        # store must not leave a slot of the pacing unused
        workers = concurrency or 2 * run.pacing.max_concurrency
    else:
        workers = concurrency or 4
    queue = deque(_items(plan, tz, hour_chunk_days))
    try:
        # Days alone until the server stays put: the first learns the account's server (the
        # director answers it), the next that server's digest nonce, so the workers that follow
        # do not each start with a challenge and a hop.
        for _ in range(3):
            server = getattr(client, "base_url", None)
            await run.do(queue.popleft())
            if not queue or getattr(client, "base_url", None) == server:
                break
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(queue))):
                group.create_task(run.worker(queue))
    except _Abort as abort:
        raise abort.error from None
    except BaseExceptionGroup as group_error:
        raise _unwrap(group_error) from None
    finally:
        summary.requests = run.requests
        pace = run.pace()
        summary.refused = run.refused(pace)
        summary.throttled = pace.throttled - run.pace_at_start.throttled
        summary.rate_per_s = pace.rate_per_s
        if run.pacing is not None:
            await asyncio.to_thread(run.pacing.save)
        summary.elapsed_s = time.monotonic() - started
    return summary


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a worker stopped the run with (the others were cancelled because of it)."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc.error if isinstance(exc, _Abort) else exc
