"""The Store contract, run unchanged on both back ends: SQLite and a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import msgspec
import pytest

from zapledger.exceptions import StoreError
from zapledger.models import (
    Device,
    History,
    HistoryRecord,
    MeterReading,
    Resolution,
    decode_history,
    decode_zappi,
    find_gaps,
)
from zapledger.store import Store, open_store
from zapledger.store._base import SqlStore

pytest_plugins = ["pg_server"]

MINUTE, HOUR = Resolution.MINUTE, Resolution.HOUR
T0 = datetime(2024, 1, 15, tzinfo=UTC)
FETCHED = datetime(2024, 1, 16, 6, 30, tzinfo=UTC)
Read = Callable[[str], bytes]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/zapledger.sqlite3"
    return cast(str, request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def records(
    start: datetime, n: int, resolution: Resolution = MINUTE, *, seed: int = 0, **fixed: Any
) -> tuple[HistoryRecord, ...]:
    """``n`` consecutive records with distinct, checkable values."""
    step = resolution.seconds
    out = []
    for i in range(n):
        values: dict[str, Any] = {
            "import_j": 1000 + i + seed,
            "export_j": 2 * i,
            "generation_j": 3 * i + seed,
            "generation_negative_j": i % 7,
            "diverted_h1_j": 10 * i,
            "diverted_h2_j": 1,
            "boosted_h1_j": 5,
            "boosted_h3_j": i % 3,
            "ct1_positive_j": 2**40 + i,  # beyond 32 bits
            "ct3_negative_j": 7,
            "voltage_v": None if i % 11 == 0 else 230.0 + i / 10,
            "frequency_hz": None if i % 13 == 0 else 50.01,
        }
        values.update(fixed)
        out.append(HistoryRecord(start + timedelta(seconds=i * step), step, **values))
    return tuple(out)


def history(recs: tuple[HistoryRecord, ...], resolution: Resolution = MINUTE) -> History:
    return History("10000001", resolution, recs)


def test_new_database_is_at_latest_version(store: Store) -> None:
    from zapledger.store import SCHEMA_VERSION

    assert store.schema_version() == SCHEMA_VERSION >= 2
    assert "zapledger" in repr(store) or store.url in repr(store)


def test_history_round_trip(store: Store) -> None:
    recs = records(T0, 1440)
    assert store.upsert_history("10000001", MINUTE, recs) == 1440
    back = store.history("10000001", MINUTE, T0, T0 + timedelta(days=1))
    assert back == list(recs)
    assert all(r.timestamp.tzinfo is UTC for r in back)
    assert store.count_history("10000001", MINUTE) == 1440
    assert store.count_history(None, HOUR) == 0


def test_history_range_is_half_open_and_per_serial(store: Store) -> None:
    store.upsert_history("A", HOUR, records(T0, 48, HOUR))
    store.upsert_history("B", HOUR, records(T0, 5, HOUR))
    got = store.history("A", HOUR, T0 + timedelta(hours=2), T0 + timedelta(hours=5))
    assert [r.timestamp.hour for r in got] == [2, 3, 4]
    assert store.count_history(None, HOUR) == 53
    assert store.count_history("B", HOUR) == 5
    assert store.history("C", HOUR, T0, T0 + timedelta(days=9)) == []


def test_rerun_changes_nothing_and_a_change_is_written(store: Store) -> None:
    recs = records(T0, 600)
    assert store.upsert_history("10000001", MINUTE, recs) == 600
    assert store.upsert_history("10000001", MINUTE, recs) == 0
    assert store.count_history("10000001", MINUTE) == 600
    changed = list(recs)
    changed[10] = msgspec.structs.replace(changed[10], import_j=99, voltage_v=None)
    assert store.upsert_history("10000001", MINUTE, changed) == 1
    back = store.history("10000001", MINUTE, T0, T0 + timedelta(days=1))
    assert back[10].import_j == 99 and back[10].voltage_v is None
    assert back[:10] == list(recs[:10]) and back[11:] == list(recs[11:])


def test_duplicates_in_one_batch_last_wins(store: Store) -> None:
    first, second = records(T0, 2), records(T0, 2, seed=500)
    store.upsert_history("S", MINUTE, [*first, second[0]])
    back = store.history("S", MINUTE, T0, T0 + timedelta(hours=1))
    assert back == [second[0], first[1]]


def test_write_day_stores_records_and_state(store: Store) -> None:
    recs = records(T0, 1430)
    gaps = find_gaps([r.timestamp for r in recs], T0, T0 + timedelta(days=1), 60)
    hist = History("10000001", MINUTE, recs, duplicates_dropped=1, gaps=gaps)
    day = date(2024, 1, 15)
    n = store.write_day(
        "10000001", MINUTE, day, "UTC", hist, expected=1440, final=True, fetched_at=FETCHED
    )
    assert n == 1430
    state = store.sync_states("10000001", MINUTE, day, day)[day]
    assert state.day_start == T0 and state.tz == "UTC" and state.fetched_at == FETCHED
    assert (state.records, state.expected, state.missing) == (1430, 1440, 10)
    assert (state.duplicates_dropped, state.suspect) == (1, hist.suspect)
    assert state.final is True and state.attempts == 0 and state.error is None
    again = store.write_day(
        "10000001", MINUTE, day, "UTC", hist, expected=1440, final=True, fetched_at=FETCHED
    )
    assert again == 0
    assert store.sync_states("10000001", MINUTE, day, day)[day] == state


def test_write_day_is_atomic_on_a_bad_record(store: Store) -> None:
    day = date(2024, 1, 15)
    good = records(T0, 1440)
    store.write_day("S", MINUTE, day, "UTC", history(good), expected=1440, final=False,
                    fetched_at=FETCHED)  # fmt: skip
    bad = list(records(T0, 1440, seed=7))
    bad[700] = msgspec.structs.replace(bad[700], import_j=cast(int, None))  # NOT NULL violated
    with pytest.raises(StoreError, match="writing S minute 2024-01-15"):
        store.write_day("S", MINUTE, day, "UTC", history(tuple(bad)), expected=1440, final=True,
                        fetched_at=FETCHED + timedelta(hours=1))  # fmt: skip
    assert store.history("S", MINUTE, T0, T0 + timedelta(days=1)) == list(good)
    state = store.sync_states("S", MINUTE, day, day)[day]
    assert state.final is False and state.fetched_at == FETCHED


def test_write_day_leaves_nothing_when_the_state_write_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: SqlStore, params: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(SqlStore, "_write_sync_state", crash)
    day = date(2024, 1, 15)
    with pytest.raises(RuntimeError, match="power cut"):
        store.write_day("S", MINUTE, day, "UTC", history(records(T0, 1440)), expected=1440,
                        final=True, fetched_at=FETCHED)  # fmt: skip
    assert store.count_history(None, MINUTE) == 0
    assert store.sync_states("S", MINUTE, day, day) == {}
    monkeypatch.undo()
    store.upsert_device("S", "zappi")  # the connection is usable afterwards
    assert store.devices() == [Device("S", "zappi", None)]


def test_sync_states_and_last_synced_day(store: Store) -> None:
    assert store.last_synced_day("S", HOUR) is None
    for offset, final in [(0, True), (1, True), (2, True), (3, False)]:
        day = date(2024, 1, 15) + timedelta(days=offset)
        start = T0 + timedelta(days=offset)
        store.write_day("S", HOUR, day, "UTC", history(records(start, 24, HOUR), HOUR),
                        expected=24, final=final, fetched_at=FETCHED)  # fmt: skip
    assert store.last_synced_day("S", HOUR) == date(2024, 1, 17)
    assert store.last_synced_day("S", MINUTE) is None
    assert store.last_synced_day("other", HOUR) is None
    states = store.sync_states("S", HOUR, date(2024, 1, 16), date(2024, 1, 18))
    assert sorted(states) == [date(2024, 1, 16), date(2024, 1, 17), date(2024, 1, 18)]
    assert states[date(2024, 1, 18)].final is False
    assert all(s.resolution is HOUR and s.records == 24 for s in states.values())
    assert store.sync_states("S", MINUTE, date(2024, 1, 1), date(2024, 12, 31)) == {}


def test_record_failure_counts_attempts_and_keeps_rows(store: Store) -> None:
    day = date(2024, 1, 15)
    store.record_failure("S", HOUR, day, "Europe/Amsterdam", "timeout", FETCHED)
    store.record_failure("S", HOUR, day, "Europe/Amsterdam", "HTTP 503", FETCHED)
    state = store.sync_states("S", HOUR, day, day)[day]
    assert (state.attempts, state.error, state.records, state.final) == (2, "HTTP 503", 0, False)
    assert state.fetched_at is None
    assert state.day_start == datetime(2024, 1, 14, 23, tzinfo=UTC)

    recs = records(datetime(2024, 1, 14, 23, tzinfo=UTC), 24, HOUR)
    store.write_day("S", HOUR, day, "Europe/Amsterdam", history(recs, HOUR), expected=24,
                    final=True, fetched_at=FETCHED)  # fmt: skip
    state = store.sync_states("S", HOUR, day, day)[day]
    assert (state.attempts, state.error, state.records) == (0, None, 24)

    store.record_failure("S", HOUR, day, "Europe/Amsterdam", "refetch failed", FETCHED)
    state = store.sync_states("S", HOUR, day, day)[day]
    assert (state.attempts, state.error, state.records, state.final) == (
        1,
        "refetch failed",
        24,
        True,
    )
    assert state.fetched_at == FETCHED
    assert store.count_history("S", HOUR) == 24
    assert store.last_synced_day("S", HOUR) == day


@pytest.mark.parametrize(
    ("fixture", "day", "hours", "day_start"),
    [
        ("jdayhour_2021-03-28_london_spring_forward.json", date(2021, 3, 28), 23,
         datetime(2021, 3, 28, 0, tzinfo=UTC)),
        ("jdayhour_2021-10-31_london_fall_back.json", date(2021, 10, 31), 25,
         datetime(2021, 10, 30, 23, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_dst_days_store_23_and_25_hours(
    store: Store, fixture_bytes: Read, fixture: str, day: date, hours: int, day_start: datetime
) -> None:
    hist = decode_history(fixture_bytes(fixture), HOUR)
    assert len(hist.records) == hours
    store.write_day("12345678", HOUR, day, "Europe/London", hist, expected=hours, final=True,
                    fetched_at=FETCHED)  # fmt: skip
    state = store.sync_states("12345678", HOUR, day, day)[day]
    assert (state.day_start, state.records, state.missing) == (day_start, hours, 0)
    day_end = day_start + timedelta(hours=hours)
    back = store.history("12345678", HOUR, day_start, day_end)
    assert back == list(hist.records)
    assert store.count_history("12345678", HOUR) == hours
    rows = list(store.iter_energy("12345678", HOUR, day_start, day_end))
    assert [r.start for r in rows] == [r.timestamp for r in hist.records]


def test_status_round_trip_keeps_raw_json(store: Store, fixture_bytes: Read) -> None:
    status = decode_zappi(fixture_bytes("status_unknown_enums.json"))
    assert status.timestamp is not None
    store.add_status(status, FETCHED)
    store.add_status(status, FETCHED)  # idempotent
    got = store.statuses(status.serial, status.timestamp, status.timestamp + timedelta(seconds=1))
    assert len(got) == 1
    row = got[0]
    assert row.raw == dict(status.raw)
    assert row.timestamp == status.timestamp and row.fetched_at == FETCHED
    expected = status.as_dict()
    for key in ("mode", "charge_status", "plug_status", "voltage_v", "frequency_hz",
                "grid_power_w", "generation_power_w", "charge_power_w", "charge_added_kwh",
                "firmware"):  # fmt: skip
        assert getattr(row, key) == expected[key], key
    assert store.statuses(status.serial, FETCHED, FETCHED + timedelta(days=1)) == []


def test_status_without_own_time_is_keyed_on_fetch_time(store: Store, fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_example.json"))
    untimed = dataclasses.replace(z, timestamp=None)
    store.add_status(untimed, FETCHED)
    got = store.statuses(z.serial, FETCHED, FETCHED + timedelta(seconds=1))
    assert [g.timestamp for g in got] == [FETCHED]


def test_devices_keep_their_name(store: Store) -> None:
    store.upsert_device("20000002", "zappi", "Garage")
    store.upsert_device("10000001", "eddi")
    store.upsert_device("20000002", "zappi")
    assert store.devices() == [Device("10000001", "eddi"), Device("20000002", "zappi", "Garage")]
    store.upsert_device("20000002", "zappi", "Drive")
    assert store.devices()[1] == Device("20000002", "zappi", "Drive")


def test_meter_readings_upsert_and_query(store: Store) -> None:
    readings = [
        MeterReading(meter, channel, T0 + timedelta(minutes=15 * i), total, "dsmr")
        for meter in ("p1", "pv")
        for channel in (("import_t1", "export_t1") if meter == "p1" else ("pv",))
        for i, total in enumerate(range(10**11, 10**11 + 5 * 36_000, 36_000))
    ]
    assert store.upsert_meter_readings(readings) == 15
    assert store.upsert_meter_readings(readings) == 0
    assert store.upsert_meter_readings([]) == 0
    assert list(store.meters()) == [("p1", "export_t1"), ("p1", "import_t1"), ("pv", "pv")]
    end = T0 + timedelta(days=1)
    assert len(store.meter_readings(None, None, T0, end)) == 15
    p1 = store.meter_readings("p1", None, T0, end)
    quarter = timedelta(minutes=15)
    assert [(r.channel, r.timestamp) for r in p1][:2] == [
        ("export_t1", T0),
        ("export_t1", T0 + quarter),
    ]
    window = store.meter_readings(
        "p1", "import_t1", T0 + timedelta(minutes=15), T0 + timedelta(minutes=45)
    )
    assert window == readings[1:3]
    fixed = MeterReading("p1", "import_t1", T0, 5, "csv", "receive")
    assert store.upsert_meter_readings([fixed]) == 1
    assert store.meter_readings(None, "import_t1", T0, T0 + timedelta(seconds=1)) == [fixed]


def _hour_sums(recs: tuple[HistoryRecord, ...], attr: str) -> int:
    return sum(int(getattr(r, attr)) for r in recs)


def test_iter_energy_sums_per_bucket(store: Store) -> None:
    recs = records(T0, 180)
    store.upsert_history("S", MINUTE, recs)
    rows = list(store.iter_energy("S", MINUTE, T0, T0 + timedelta(hours=3)))
    assert [r.start for r in rows] == [T0 + timedelta(hours=h) for h in range(3)]
    for h, row in enumerate(rows):
        chunk = recs[60 * h : 60 * (h + 1)]
        assert row.records == 60
        assert row.energy.import_j == _hour_sums(chunk, "import_j")
        assert row.energy.export_j == _hour_sums(chunk, "export_j")
        assert row.energy.generation_j == _hour_sums(chunk, "generation_j")
        assert row.energy.generation_negative_j == _hour_sums(chunk, "generation_negative_j")
        assert row.energy.diverted_j == _hour_sums(chunk, "diverted_j")
        assert row.energy.boosted_j == _hour_sums(chunk, "boosted_j")
        assert all(
            isinstance(v, int) for v in (row.records, row.energy.import_j, row.energy.boosted_j)
        )
    (day,) = store.iter_energy("S", MINUTE, T0, T0 + timedelta(days=1), bucket_s=86400)
    assert day.records == 180 and day.energy.import_j == _hour_sums(recs, "import_j")
    partial = list(
        store.iter_energy("S", MINUTE, T0 + timedelta(minutes=30), T0 + timedelta(hours=1))
    )
    assert partial[0].start == T0 and partial[0].records == 30
    with pytest.raises(ValueError, match="bucket_s"):
        store.iter_energy("S", MINUTE, T0, T0, bucket_s=0)


def test_iter_energy_all_zappis_counts_site_energy_once(store: Store) -> None:
    a = records(T0, 120, seed=0)  # both see the grid CT: nearly equal site values
    b = records(T0, 120, seed=3)
    c = records(T0, 60, seed=0, import_j=0, export_j=0, generation_j=0, generation_negative_j=0)
    store.upsert_history("20000002", MINUTE, a)
    store.upsert_history("30000003", MINUTE, b)
    store.upsert_history("10000001", MINUTE, c)  # lowest serial but no grid CT: only diversion
    rows = list(store.iter_energy(None, MINUTE, T0, T0 + timedelta(hours=2)))
    assert len(rows) == 2
    for h, row in enumerate(rows):
        ca, cb, cc = (x[60 * h : 60 * (h + 1)] for x in (a, b, c))
        assert row.energy.import_j == _hour_sums(ca, "import_j")  # from 20000002 only, not a + b
        assert row.energy.export_j == _hour_sums(ca, "export_j")
        assert row.energy.generation_j == _hour_sums(ca, "generation_j")
        assert row.energy.generation_negative_j == _hour_sums(ca, "generation_negative_j")
        assert row.energy.diverted_j == sum(_hour_sums(x, "diverted_j") for x in (ca, cb, cc))
        assert row.energy.boosted_j == sum(_hour_sums(x, "boosted_j") for x in (ca, cb, cc))
        assert row.records == len(ca) + len(cb) + len(cc)
    single = list(store.iter_energy("30000003", MINUTE, T0, T0 + timedelta(hours=2)))
    assert single[0].energy.import_j == _hour_sums(b[:60], "import_j")
    assert list(store.iter_energy(None, HOUR, T0, T0 + timedelta(hours=2))) == []


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.history("S", MINUTE, datetime(2024, 1, 1), datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="aware"):
        store.upsert_history("S", MINUTE, [HistoryRecord(datetime(2024, 1, 1), 60)])


def test_closed_store_refuses_work(store_url: str) -> None:
    s = open_store(store_url)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.count_history(None, MINUTE)


def test_unknown_time_zone_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="Mars/Olympus"):
        store.record_failure("S", HOUR, date(2024, 1, 1), "Mars/Olympus", "x", FETCHED)


def test_iter_energy_bucket_edges_and_odd_timestamps(store: Store) -> None:
    odd = (  # an hour record off the hour (never seen, but it must not break a bucket)
        HistoryRecord(T0, 3600, import_j=1, diverted_h2_j=4),
        HistoryRecord(T0 + timedelta(minutes=30), 3600, import_j=2, boosted_h2_j=8),
        HistoryRecord(T0 + timedelta(hours=1), 3600, import_j=4),
    )
    store.upsert_history("S", HOUR, odd)
    rows = list(store.iter_energy("S", HOUR, T0, T0 + timedelta(days=1)))
    assert [
        (r.start, r.records, r.energy.import_j, r.energy.diverted_j, r.energy.boosted_j)
        for r in rows
    ] == [
        (T0, 2, 3, 4, 8),
        (T0 + timedelta(hours=1), 1, 4, 0, 0),
    ]
    fine = list(store.iter_energy("S", HOUR, T0, T0 + timedelta(days=1), bucket_s=60))
    assert [r.records for r in fine] == [1, 1, 1]
    store.upsert_history("S", MINUTE, records(T0, 240))
    cut = list(
        store.iter_energy("S", MINUTE, T0 + timedelta(minutes=90), T0 + timedelta(minutes=150))
    )
    assert [(r.start, r.records) for r in cut] == [
        (T0 + timedelta(hours=1), 30),
        (T0 + timedelta(hours=2), 30),
    ]
    assert (
        list(store.iter_energy("S", MINUTE, T0 + timedelta(days=2), T0 + timedelta(days=3))) == []
    )
    assert list(store.iter_energy("nobody", MINUTE, T0, T0 + timedelta(days=1))) == []


def test_edge_arguments(store: Store) -> None:
    assert store.upsert_history("S", MINUTE, iter(())) == 0
    assert store.upsert_history("S", MINUTE, iter(records(T0, 3))) == 3  # any iterable
    with pytest.raises(ValueError, match="hour history written as minute"):
        store.write_day("S", MINUTE, date(2024, 1, 15), "UTC", history((), HOUR), expected=1440,
                        final=False, fetched_at=FETCHED)  # fmt: skip
    with pytest.raises(ValueError, match="naive"):
        store.add_status(dataclasses.replace(_any_status(), timestamp=None), datetime(2024, 1, 1))
    empty = store.write_day("S", MINUTE, date(2024, 1, 16), "UTC", history(()), expected=1440,
                            final=False, fetched_at=FETCHED)  # fmt: skip
    assert empty == 0
    state = store.sync_states("S", MINUTE, date(2024, 1, 16), date(2024, 1, 16))[date(2024, 1, 16)]
    assert (state.records, state.missing) == (0, 1440)


def _any_status() -> Any:
    from zapledger.models import parse_zappi

    return parse_zappi({"sno": 1, "dat": "01-01-2024", "tim": "00:00:00"})
