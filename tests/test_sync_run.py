"""Running a sync against a fake cloud (no network): writes, failures, aborts, reruns, events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from zapledger.backfill import (
    DayFailed,
    DayReason,
    DayWritten,
    SyncEvent,
    SyncPlanned,
    SyncSummary,
    default_since,
    sync_zappi,
)
from zapledger.exceptions import (
    AuthenticationError,
    BadResponseError,
    CloudConnectionError,
    ServerError,
    StoreError,
)
from zapledger.localtime import (
    local_day_window,
    merge_histories,
    requests_for_local_day,
    window_from,
)
from zapledger.models import History, HistoryRecord, Resolution
from zapledger.store import Store, open_store

SERIAL = "10000001"
TZ = "Europe/London"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class FakeCloud:
    """Answers history like the cloud would, from a formula; can fail or hide records."""

    def __init__(self) -> None:
        self.requests_sent = 0
        self.calls: list[tuple[str, date, int | None]] = []
        self.fail: dict[date, Exception] = {}
        self.fail_all: Exception | None = None
        self.hide_minutes: dict[date, int] = {}
        self.max_hours: int | None = None  # a server that answers fewer hours than asked
        self.no_data_before = datetime(2000, 1, 1, tzinfo=UTC)  # e.g. the hub's installation
        self.now = NOW  # nothing is served from here on
        self.hidden: list[tuple[datetime, datetime]] = []  # spans [start, end) it has no data of

    def _record(self, ts: datetime, resolution: Resolution) -> HistoryRecord:
        minute = int(ts.timestamp()) // 60
        return HistoryRecord(ts, resolution.seconds, import_j=minute % 997, generation_j=7)

    def _span(self, serial: str, start: datetime, count: int, resolution: Resolution) -> History:
        lo, hi = window_from(start, count, resolution)
        step = timedelta(seconds=resolution.seconds)
        records = []
        at = lo
        while at < hi and at < self.now:
            if at >= self.no_data_before and not any(a <= at < b for a, b in self.hidden):
                records.append(self._record(at, resolution))
            at += step
        return merge_histories([History(serial, resolution, tuple(records))], window=(lo, hi))

    def _check(self, day: date) -> None:
        if self.fail_all is not None:
            raise self.fail_all
        if day in self.fail:
            raise self.fail[day]

    async def local_day(self, serial: str, day: date, tz: str, resolution: Resolution) -> History:
        self.requests_sent += len(requests_for_local_day(day, tz, resolution))
        self.calls.append((resolution.value, day, None))
        self._check(day)
        lo, hi = local_day_window(day, tz, resolution)
        history = self._span(
            serial, lo, (hi - lo) // timedelta(seconds=resolution.seconds), resolution
        )
        hide = self.hide_minutes.get(day, 0)
        if hide and resolution is Resolution.MINUTE:
            kept = history.records[hide:]
            history = merge_histories([History(serial, resolution, kept)], window=(lo, hi))
        return history

    async def hour_history(
        self, serial: str, day: date, *, start_hour: int | None = None, count: int | None = None
    ) -> History:
        assert start_hour is not None and count is not None
        self.requests_sent += 1
        self.calls.append(("hours", day, count))
        start = datetime(day.year, day.month, day.day, start_hour, tzinfo=UTC)
        for bad in self.fail:
            lo = local_day_window(bad, TZ)[0]
            if start <= lo < start + timedelta(hours=count):
                self._check(bad)
        if self.fail_all is not None:
            raise self.fail_all
        answered = count if self.max_hours is None else min(count, self.max_hours)
        history = self._span(serial, start, answered, Resolution.HOUR)
        return merge_histories([history], window=window_from(start, count, Resolution.HOUR))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'z.sqlite3'}") as s:
        yield s


async def run(
    cloud: FakeCloud,
    store: Store,
    since: date,
    until: date,
    events: list[SyncEvent] | None = None,
    **kw: object,
) -> SyncSummary:
    return await sync_zappi(
        cloud,
        store,
        SERIAL,
        since,
        until,
        TZ,
        now=NOW,
        on_event=None if events is None else events.append,
        **kw,  # type: ignore[arg-type]
    )


async def test_backfill_writes_every_day_and_state(store: Store) -> None:
    cloud = FakeCloud()
    events: list[SyncEvent] = []
    summary = await sync_zappi(
        cloud,
        store,
        SERIAL,
        date(2024, 3, 25),
        date(2024, 4, 3),
        TZ,
        now=NOW,
        on_event=events.append,
    )
    assert summary.ok and summary.days_written == 20
    minutes = 9 * 1440 + 23 * 60  # 25 March .. 3 April; 31 March is a 23-hour day
    assert store.count_history(SERIAL, Resolution.MINUTE) == minutes
    assert store.count_history(SERIAL, Resolution.HOUR) == 239
    assert summary.records_written == summary.rows_changed == minutes + 239
    # ten minute requests and one hour request for the ten days
    assert summary.requests == cloud.requests_sent == 11
    assert isinstance(events[0], SyncPlanned) and len(events[0].days) == 20
    assert events[0].records_expected == minutes + 239
    written = [e for e in events if isinstance(e, DayWritten)]
    assert len(written) == 20 and all(e.final for e in written)
    states = store.sync_states(SERIAL, Resolution.HOUR, date(2024, 3, 25), date(2024, 4, 3))
    assert states[date(2024, 3, 31)].expected == 23 == states[date(2024, 3, 31)].records
    assert all(s.final and s.missing == 0 and s.error is None for s in states.values())
    assert "zappi" in {d.device_type for d in store.devices()}


async def test_rerun_fetches_and_inserts_nothing(store: Store) -> None:
    cloud = FakeCloud()
    cloud.hide_minutes[date(2024, 5, 1)] = 5  # accepted gaps of an old day are not asked again
    await run(cloud, store, date(2024, 4, 28), date(2024, 5, 3))
    before = store.count_history(SERIAL, Resolution.MINUTE)
    summary = await run(cloud, store, date(2024, 4, 28), date(2024, 5, 3))
    assert summary.planned == () and summary.requests == 0
    assert store.count_history(SERIAL, Resolution.MINUTE) == before


async def test_identical_refetch_changes_no_row(store: Store) -> None:
    cloud = FakeCloud()
    day = date(2024, 5, 31)  # not final two hours after its end: fetched again on every run
    early = datetime(2024, 6, 1, 1, 0, tzinfo=UTC)
    first = await sync_zappi(cloud, store, SERIAL, day, day, TZ, now=early)
    second = await sync_zappi(cloud, store, SERIAL, day, day, TZ, now=early)
    assert first.rows_changed > 0
    assert second.days_written == 2 and second.rows_changed == 0
    assert second.days_not_final == 2


async def test_until_is_capped_at_today_and_today_is_partial(store: Store) -> None:
    cloud = FakeCloud()
    summary = await run(cloud, store, date(2024, 5, 31), date(2024, 6, 30))
    assert summary.until == date(2024, 6, 1)
    today = store.sync_states(SERIAL, Resolution.MINUTE, date(2024, 6, 1), date(2024, 6, 1))
    state = today[date(2024, 6, 1)]
    # the local day began at 23:00 UTC: 13 hours of it are in the past at 12:00 UTC; the 11
    # hours still to come are not missing, they are not there yet
    assert not state.final and state.records == 13 * 60 and state.missing == 0
    assert state.expected == 13 * 60


async def test_today_counts_only_the_gaps_before_now(store: Store) -> None:
    cloud = FakeCloud()
    today, yesterday = date(2024, 6, 1), date(2024, 5, 31)  # today began at 23:00 UTC on 31 May
    cloud.hidden = [
        (datetime(2024, 6, 1, 10, 0, tzinfo=UTC), datetime(2024, 6, 1, 10, 5, tzinfo=UTC)),
        # straddles now (12:00 UTC): 30 minutes are gone, 30 have not happened yet
        (datetime(2024, 6, 1, 11, 30, tzinfo=UTC), datetime(2024, 6, 1, 12, 30, tzinfo=UTC)),
        # the last 30 minutes of yesterday, a day that is over
        (datetime(2024, 5, 31, 22, 30, tzinfo=UTC), datetime(2024, 5, 31, 23, 0, tzinfo=UTC)),
    ]
    events: list[SyncEvent] = []
    summary = await run(cloud, store, yesterday, today, events)
    assert summary.ok and summary.days_not_final == 2 and summary.days_with_gaps == 3
    states = store.sync_states(SERIAL, Resolution.MINUTE, yesterday, today)
    now_m, past_m = states[today], states[yesterday]
    assert (now_m.records, now_m.expected, now_m.missing, now_m.final) == (745, 780, 35, False)
    assert (past_m.records, past_m.expected, past_m.missing, past_m.final) == (1410, 1440, 30, True)
    hours = store.sync_states(SERIAL, Resolution.HOUR, today, today)[today]
    assert (hours.records, hours.expected, hours.missing) == (12, 13, 1)  # the 10:00 hour
    written = {(e.resolution, e.day): e.missing for e in events if isinstance(e, DayWritten)}
    assert written[(Resolution.MINUTE, today)] == 35
    assert written[(Resolution.MINUTE, yesterday)] == 30
    # once today is over, every gap of it counts, the one that straddled the old now included
    later = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)
    cloud.now = later
    again = await sync_zappi(cloud, store, SERIAL, today, today, TZ, now=later)
    assert again.ok and [p.reason for p in again.planned] == [DayReason.NOT_FINAL] * 2
    done = store.sync_states(SERIAL, Resolution.MINUTE, today, today)[today]
    assert (done.records, done.expected, done.missing, done.final) == (1375, 1440, 65, True)


async def test_a_failing_day_is_recorded_and_the_others_go_on(store: Store) -> None:
    cloud = FakeCloud()
    bad = date(2024, 4, 10)
    cloud.fail[bad] = BadResponseError("cgi-jday: not a history payload")
    events: list[SyncEvent] = []
    summary = await run(cloud, store, date(2024, 4, 8), date(2024, 4, 12), events)
    assert not summary.ok
    failed = {(f.resolution, f.day) for f in summary.failures}
    # the hour chunk fell back to single days, so only the bad day failed
    assert failed == {(Resolution.MINUTE, bad), (Resolution.HOUR, bad)}
    assert summary.days_written == 8
    assert sum(isinstance(e, DayFailed) for e in events) == 2
    state = store.sync_states(SERIAL, Resolution.MINUTE, bad, bad)[bad]
    assert state.error is not None and "not a history payload" in state.error
    assert state.attempts == 1
    # the next run asks for the failed day only, and heals it
    del cloud.fail[bad]
    again = await run(cloud, store, date(2024, 4, 8), date(2024, 4, 12))
    assert {(p.day, p.reason) for p in again.planned} == {(bad, DayReason.FAILED)}
    assert again.ok
    assert store.sync_states(SERIAL, Resolution.MINUTE, bad, bad)[bad].error is None


async def test_connection_failures_in_a_row_abort_the_run(store: Store) -> None:
    cloud = FakeCloud()
    cloud.fail_all = CloudConnectionError("cannot reach s18.myenergi.net")
    with pytest.raises(CloudConnectionError):
        await run(cloud, store, date(2024, 4, 1), date(2024, 4, 30), concurrency=1)
    # three days failed (and were recorded) before the run gave up
    states = store.sync_states(SERIAL, Resolution.MINUTE, date(2024, 4, 1), date(2024, 4, 30))
    assert len(states) <= 3 and all(s.error for s in states.values())


async def test_server_errors_do_not_abort(store: Store) -> None:
    cloud = FakeCloud()
    cloud.fail_all = ServerError("HTTP 500", status=500)
    summary = await run(cloud, store, date(2024, 4, 1), date(2024, 4, 6))
    assert len(summary.failures) == 12


async def test_authentication_error_stops_the_run(store: Store) -> None:
    cloud = FakeCloud()
    cloud.fail_all = AuthenticationError("401")
    with pytest.raises(AuthenticationError):
        await run(cloud, store, date(2024, 4, 1), date(2024, 4, 6))


async def test_short_hour_answers_are_asked_again_day_by_day(store: Store) -> None:
    cloud = FakeCloud()
    cloud.max_hours = 24
    summary = await run(
        cloud, store, date(2024, 4, 1), date(2024, 4, 4), resolutions=[Resolution.HOUR]
    )
    assert summary.ok and store.count_history(SERIAL, Resolution.HOUR) == 96
    assert [c[0] for c in cloud.calls] == ["hours", "hour", "hour", "hour"]


async def test_days_before_the_first_data_are_not_asked_again(store: Store) -> None:
    cloud = FakeCloud()
    cloud.no_data_before = datetime(2024, 4, 3, tzinfo=UTC)
    summary = await run(
        cloud, store, date(2024, 3, 1), date(2024, 4, 5), resolutions=[Resolution.HOUR]
    )
    assert summary.ok and [c[0] for c in cloud.calls] == ["hours", "hours"]
    states = store.sync_states(SERIAL, Resolution.HOUR, date(2024, 3, 1), date(2024, 4, 5))
    assert states[date(2024, 3, 5)].records == 0 and states[date(2024, 3, 5)].missing == 24
    assert states[date(2024, 4, 4)].records == 24


async def test_hour_chunk_of_one_day_asks_day_by_day(store: Store) -> None:
    cloud = FakeCloud()
    await run(
        cloud,
        store,
        date(2024, 4, 1),
        date(2024, 4, 3),
        resolutions=[Resolution.HOUR],
        hour_chunk_days=1,
    )
    assert [c[0] for c in cloud.calls] == ["hour"] * 3


async def test_dry_run_plans_without_fetching(store: Store) -> None:
    cloud = FakeCloud()
    summary = await run(cloud, store, date(2024, 4, 1), date(2024, 4, 3), dry_run=True)
    assert len(summary.planned) == 6 and summary.dry_run
    assert cloud.requests_sent == 0 and store.count_history(SERIAL, Resolution.MINUTE) == 0


async def test_default_since_is_the_first_synced_day(store: Store) -> None:
    assert default_since(store, SERIAL, [Resolution.MINUTE]) is None
    cloud = FakeCloud()
    await run(cloud, store, date(2024, 4, 1), date(2024, 4, 3), resolutions=[Resolution.MINUTE])
    assert default_since(store, SERIAL, [Resolution.MINUTE]) == date(2024, 4, 1)
    assert default_since(store, SERIAL, [Resolution.MINUTE, Resolution.HOUR]) is None


async def test_bad_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await run(FakeCloud(), store, date(2024, 4, 1), date(2024, 4, 1), concurrency=0)
    with pytest.raises(ValueError, match="hour_chunk_days"):
        await run(FakeCloud(), store, date(2024, 4, 1), date(2024, 4, 1), hour_chunk_days=100)


async def test_store_errors_propagate(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError):
        await run(FakeCloud(), store, date(2024, 4, 1), date(2024, 4, 1))
