"""A deterministic synthetic household for the report tests (imported by the other report tests).

Minute records follow a daily pattern (solar bell, evening house load, EV diverting at midday on
even days and boosting at night on every third day); import and export close the balance, so the
house consumption the report derives is known exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from zapledger.models import History, HistoryRecord, Resolution
from zapledger.store import Store
from zone_windows import day_window

SERIAL = "10000001"
SECOND_SERIAL = "10000002"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def minute_record(ts: datetime, *, ev: bool = True) -> HistoryRecord:
    """One minute of the synthetic household (joules are W x 60)."""
    seconds = int(ts.timestamp())
    hour = (seconds % 86400) / 3600
    day = seconds // 86400
    gen_w = int(max(0.0, math.sin(math.pi * (hour - 6) / 12)) * 2400)
    house_w = 300 + (700 if 18 <= hour < 22 else 0) + (seconds // 60) % 7
    standby_w = 5 if gen_w == 0 else 0
    diverted_w = (
        min(max(gen_w - house_w, 0), 3000) if ev and 10 <= hour < 14 and day % 2 == 0 else 0
    )
    boosted_w = 7000 if ev and 2 <= hour < 4 and day % 3 == 0 else 0
    net_w = house_w + diverted_w + boosted_w + standby_w - gen_w
    return HistoryRecord(
        timestamp=ts,
        duration_s=60,
        import_j=max(net_w, 0) * 60,
        export_j=max(-net_w, 0) * 60,
        generation_j=gen_w * 60,
        generation_negative_j=standby_w * 60,
        diverted_h1_j=diverted_w * 60,
        boosted_h1_j=boosted_w * 60,
        voltage_v=230.0,
        frequency_hz=50.0,
    )


def minutes(start: datetime, end: datetime, *, ev: bool = True) -> list[HistoryRecord]:
    out = []
    at = start
    while at < end:
        out.append(minute_record(at, ev=ev))
        at += timedelta(minutes=1)
    return out


def hours_of(records: Iterable[HistoryRecord]) -> list[HistoryRecord]:
    """Hourly records that are the exact sums of the given minute records."""
    sums: dict[datetime, list[int]] = {}
    for r in records:
        key = r.timestamp.replace(minute=0)
        acc = sums.setdefault(key, [0] * 6)
        for i, v in enumerate(
            (
                r.import_j,
                r.export_j,
                r.generation_j,
                r.generation_negative_j,
                r.diverted_h1_j,
                r.boosted_h1_j,
            )
        ):
            acc[i] += v
    return [
        HistoryRecord(
            timestamp=ts,
            duration_s=3600,
            import_j=a[0],
            export_j=a[1],
            generation_j=a[2],
            generation_negative_j=a[3],
            diverted_h1_j=a[4],
            boosted_h1_j=a[5],
        )
        for ts, a in sorted(sums.items())
    ]


def fill(
    store: Store,
    first: date,
    last: date,
    tz: str,
    *,
    serial: str = SERIAL,
    minute: bool = True,
    hour: bool = True,
    final: bool = True,
    ev: bool = True,
    drop_minutes: Sequence[datetime] = (),
    drop_hours: Sequence[datetime] = (),
) -> None:
    """Store local days ``first``..``last`` of the household, minute and/or hour, with sync state.

    Minute and hour records whose timestamps are in ``drop_minutes``/``drop_hours`` are left out.
    """
    store.upsert_device(serial, "zappi")
    day = first
    while day <= last:
        start, end = day_window(day, tz)
        recs = minutes(start, end, ev=ev)
        if minute:
            kept = tuple(r for r in recs if r.timestamp not in drop_minutes)
            store.write_day(
                serial,
                Resolution.MINUTE,
                day,
                tz,
                History(serial, Resolution.MINUTE, kept),
                expected=(end - start) // timedelta(minutes=1),
                final=final,
                fetched_at=NOW,
            )
        if hour:
            kept = tuple(r for r in hours_of(recs) if r.timestamp not in drop_hours)
            store.write_day(
                serial,
                Resolution.HOUR,
                day,
                tz,
                History(serial, Resolution.HOUR, kept),
                expected=(end - start) // timedelta(hours=1),
                final=final,
                fetched_at=NOW,
            )
        day += timedelta(days=1)


def direct_sums(
    store: Store, serial: str, resolution: Resolution, start: datetime, end: datetime
) -> dict[str, int]:
    """Sums straight from the stored records, the reference the report must equal."""
    recs = store.history(serial, resolution, start, end)
    return {
        "import_j": sum(r.import_j for r in recs),
        "export_j": sum(r.export_j for r in recs),
        "generation_j": sum(r.generation_j for r in recs),
        "generation_negative_j": sum(r.generation_negative_j for r in recs),
        "diverted_j": sum(r.diverted_j for r in recs),
        "boosted_j": sum(r.boosted_j for r in recs),
    }


def test_household_balances() -> None:
    """The generator closes the balance: import + generation = export + uses, every minute."""
    start = datetime(2024, 6, 2, tzinfo=UTC)
    for r in minutes(start, start + timedelta(days=1)):
        house = r.import_j + r.generation_j - r.export_j - r.generation_negative_j - r.diverted_j
        assert house - r.boosted_j >= 300 * 60
    hourly = hours_of(minutes(start, start + timedelta(hours=2)))
    assert [h.timestamp.hour for h in hourly] == [0, 1]
