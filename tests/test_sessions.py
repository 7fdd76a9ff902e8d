"""EV charge sessions from hand-written minute histories (tests/fixtures/sessions_*.json).

Each fixture holds runs of minutes in wire keys (a minute not listed is missing), status
snapshots in wire form, and the sessions expected, worked out by hand. The other session tests
import :func:`load` from here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from zapledger.exceptions import UsageError
from zapledger.models import Resolution, parse_history, parse_zappi
from zapledger.sessions import ChargeSession, EndReason, SessionMinute, sessions
from zapledger.store import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.stem.removeprefix("sessions_") for p in FIXTURES.glob("sessions_*.json"))
NOW = datetime(2030, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)
EV_KEYS = ("h1d", "h2d", "h3d", "h1b", "h2b", "h3b")


def fixture(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"sessions_{case}.json").read_text())
    return data


def wire_minutes(case: dict[str, Any]) -> list[dict[str, int]]:
    """The fixture's runs as ``cgi-jday`` records (zero keys omitted, as on the wire)."""
    out = []
    for run in case["minutes"]:
        at = datetime.fromisoformat(run["from"])
        for _ in range(run["count"]):
            rec = {"yr": at.year, "mon": at.month, "dom": at.day, "hr": at.hour, "min": at.minute}
            rec.update({k: run[k] for k in EV_KEYS if run.get(k)})
            out.append(rec)
            at += MIN
    return out


def load(
    store: Store,
    case: dict[str, Any],
    *,
    statuses: bool = True,
    shuffle: random.Random | None = None,
) -> None:
    """Store the fixture's minutes (decoded from wire form) and status snapshots."""
    serial = case["serial"]
    store.upsert_device(serial, "zappi")
    records = wire_minutes(case)
    if shuffle is not None:
        shuffle.shuffle(records)
    history = parse_history({f"U{serial}": records}, Resolution.MINUTE)
    store.upsert_history(serial, Resolution.MINUTE, history.records)
    if statuses:
        for payload in case["statuses"]:
            status = parse_zappi(payload)
            assert status.timestamp is not None
            store.add_status(status, status.timestamp)


def days(case: dict[str, Any]) -> tuple[date, date]:
    first, last = case["range"]
    return date.fromisoformat(first), date.fromisoformat(last)


def run_case(store: Store, case: dict[str, Any], **kwargs: Any) -> list[ChargeSession]:
    first, last = days(case)
    return list(sessions(store, first, last, case["tz"], now=NOW, **kwargs).sessions)


def stored_ev_j(store: Store, serial: str, start: datetime, end: datetime) -> tuple[int, int]:
    """Diverted and boosted joules summed straight from the stored minutes in ``[start, end)``."""
    recs = store.history(serial, Resolution.MINUTE, start, end)
    diverted = sum(r.diverted_h1_j + r.diverted_h2_j + r.diverted_h3_j for r in recs)
    boosted = sum(r.boosted_h1_j + r.boosted_h2_j + r.boosted_h3_j for r in recs)
    return diverted, boosted


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        yield s


@pytest.mark.parametrize("name", CASES)
def test_sessions_are_the_ones_worked_out_by_hand(store: Store, name: str) -> None:
    case = fixture(name)
    load(store, case)
    found = run_case(store, case)
    assert len(found) == len(case["expected"])
    for session, expected in zip(found, case["expected"], strict=True):
        got = session.as_dict(case["tz"])
        for key, value in expected.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value), key
            else:
                assert got[key] == value, key


@pytest.mark.parametrize("name", CASES)
def test_each_sessions_kwh_recomputed_from_the_stored_minutes(store: Store, name: str) -> None:
    case = fixture(name)
    load(store, case)
    for session in run_case(store, case):
        diverted, boosted = stored_ev_j(store, case["serial"], session.start, session.end)
        got = session.as_dict(case["tz"])
        assert (got["diverted_j"], got["boosted_j"]) == (diverted, boosted)
        assert got["energy_kwh"] == pytest.approx((diverted + boosted) / 3_600_000)
        assert got["diverted_kwh"] == pytest.approx(diverted / 3_600_000)
        assert got["solar_share"] == pytest.approx(diverted / (diverted + boosted))


def test_a_session_across_midnight_belongs_to_the_day_it_starts(store: Store) -> None:
    case = fixture("across_midnight")
    load(store, case)
    (only,) = sessions(
        store, date(2024, 1, 15), date(2024, 1, 15), "Europe/London", now=NOW
    ).sessions
    assert only.end == datetime(2024, 1, 16, 1, 10, tzinfo=UTC)  # completed from the next day
    assert not sessions(store, date(2024, 1, 16), date(2024, 1, 16), "Europe/London").sessions


def test_spring_forward_hour_is_not_counted(store: Store) -> None:
    load(store, fixture("dst_spring"))
    first = run_case(store, fixture("dst_spring"))[0]
    local = first.as_dict("Europe/London")
    # the wall clock says 00:30 to 02:30, the session lasted one hour
    assert (local["start_local"][11:16], local["end_local"][11:16]) == ("00:30", "02:30")
    assert first.duration == timedelta(hours=1)
    assert len(first.minutes) == 60


def test_fall_back_hour_is_counted_twice_on_the_clock(store: Store) -> None:
    load(store, fixture("dst_fall"))
    second = run_case(store, fixture("dst_fall"))[1]
    local = second.as_dict("Europe/London")
    assert (local["start_local"][11:16], local["end_local"][11:16]) == ("01:15", "01:45")
    assert second.duration == timedelta(minutes=90)


def test_missing_minutes_are_listed_never_filled_in(store: Store) -> None:
    case = fixture("gaps")
    load(store, case)
    for session in run_case(store, case):
        stored = {
            r.timestamp
            for r in store.history(case["serial"], Resolution.MINUTE, session.start, session.end)
        }
        assert {m.start for m in session.minutes} == stored
        assert len(session.minutes) + session.missing_minutes == session.duration // MIN
        for a, b in session.missing:
            assert not stored & {a + i * MIN for i in range((b - a) // MIN)}


@pytest.mark.parametrize(("pause_min", "starts"), [(29, 3), (30, 2), (31, 1)])
def test_pause_just_under_and_over_the_idle_minutes(
    store: Store, pause_min: int, starts: int
) -> None:
    """The fixture has 29 and then 30 idle minutes between charges."""
    case = fixture("pause")
    load(store, case)
    found = run_case(store, case, pause=timedelta(minutes=pause_min))
    assert len(found) == starts
    assert sum(s.energy_j for s in found) == 3_000_000


def test_without_snapshots_the_unplug_is_unknown_and_the_pause_joins(store: Store) -> None:
    case = fixture("plug")
    load(store, case, statuses=False)
    (joined,) = run_case(store, case)
    assert joined.energy_j == 8_400_000 + 2_400_000
    assert joined.modes == ()
    assert joined.plugged_in_at is None and joined.unplugged_at is None
    assert joined.end_reason is EndReason.PAUSE


def test_same_data_gives_the_same_sessions(store: Store) -> None:
    """Whatever the order the minutes were written in, and however often it is asked."""
    for name in CASES:
        case = fixture(name)
        with open_store("sqlite:///:memory:") as a, open_store("sqlite:///:memory:") as b:
            load(a, case)
            load(b, case, shuffle=random.Random(name))
            first, second, third = run_case(a, case), run_case(a, case), run_case(b, case)
        assert first == second == third
        assert [s.key for s in first] == sorted(s.key for s in first)


def test_minutes_for_pricing_are_utc_and_in_order(store: Store) -> None:
    case = fixture("gaps")
    load(store, case)
    session = run_case(store, case)[0]
    starts = [m.start for m in session.minutes]
    assert starts == sorted(starts)
    assert all(
        m.start.tzinfo is UTC and session.start <= m.start < session.end for m in session.minutes
    )
    minute = session.minutes[0]
    assert minute == SessionMinute(session.start, 120_000, 0)
    start, diverted_j, boosted_j = minute  # a plain tuple for the cost code
    assert (start, diverted_j, boosted_j, minute.energy_j) == (session.start, 120_000, 0, 120_000)
    assert session.as_dict("UTC", minutes=True)["minutes"][0] == {
        "start": "2024-05-10T10:00:00+00:00",
        "diverted_j": 120_000,
        "boosted_j": 0,
    }


def test_report_totals_and_serial_filter(store: Store) -> None:
    case = fixture("gaps")
    load(store, case)
    report = sessions(store, *days(case), case["tz"], serial="10000001", now=NOW)
    data = report.as_dict()
    assert data["total"]["sessions"] == 5
    assert data["total"]["energy_j"] == sum(e["energy_j"] for e in case["expected"])
    assert data["total"]["missing_minutes"] == 16 + 15
    assert data["pause_s"] == 1800
    assert not sessions(store, *days(case), case["tz"], serial="10000002", now=NOW).sessions


def test_open_range_is_the_month_of_the_last_day(store: Store) -> None:
    load(store, fixture("pause"))
    report = sessions(store, None, None, "Europe/London", now=datetime(2024, 7, 20, tzinfo=UTC))
    assert (report.first_day, report.last_day) == (date(2024, 7, 1), date(2024, 7, 20))
    assert len(report.sessions) == 2


@pytest.mark.parametrize("pause", [timedelta(seconds=30), timedelta(days=1, minutes=1)])
def test_a_pause_outside_a_minute_to_a_day_is_refused(store: Store, pause: timedelta) -> None:
    with pytest.raises(UsageError, match="from one minute to a day"):
        sessions(store, date(2024, 1, 1), date(2024, 1, 1), "UTC", pause=pause)


def test_unplugs_alone_split_but_give_no_plug_in_time(store: Store) -> None:
    """Only the snapshots showing the car unplugged: the split holds, plug-in stays unknown."""
    case = fixture("plug")
    case["statuses"] = [s for s in case["statuses"] if s["pst"] == "A"]
    load(store, case)
    first, second = run_case(store, case)
    assert first.end_reason is second.end_reason is EndReason.UNPLUG
    assert first.plugged_in_at is None and second.plugged_in_at is None
    assert (first.unplugged_at, second.unplugged_at) == (
        datetime(2024, 8, 20, 17, 22, 40, tzinfo=UTC),
        datetime(2024, 8, 20, 17, 55, 30, tzinfo=UTC),
    )
    assert first.modes == second.modes == ()
