"""The household behind the simulator: deterministic, plausible, fast, quirky on purpose."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from zapledger.simulator import ENERGY_KEYS, Household, QuirkRates, true_day_totals
from zapledger.simulator._physics import MODE_ECO, MODE_ECO_PLUS, MODE_FAST

SUMMER, WINTER = date(2024, 6, 21), date(2024, 12, 21)


def _days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_minute_is_a_pure_function_of_seed_and_time() -> None:
    ts = datetime(2023, 5, 4, 13, 37, 42, tzinfo=UTC)
    a, b = Household(11), Household(11, cache_days=1)
    b.truth(date(2023, 5, 3))  # a different history of calls changes nothing
    assert a.minute(ts) == b.minute(ts) == b.minute(ts.replace(second=0))
    assert Household(12).minute(ts) != a.minute(ts)
    assert set(a.minute(ts)) == {"imp", "exp", "gep", "gen", "h1d", "h1b", "v1", "frq"}


def test_grid_balance_is_exact_every_minute() -> None:
    t = Household(2).truth(SUMMER)
    for m in range(1440):
        net = t.load[m] + t.h1d[m] + t.h1b[m] + t.gen[m] - t.gep[m]
        assert t.imp[m] - t.exp[m] == net
        assert min(t.imp[m], t.exp[m]) == 0


def test_pv_follows_the_seasons_and_the_night() -> None:
    hh = Household(3)
    summer_peaks = [max(hh.truth(d).gep) / 60 for d in _days(SUMMER - timedelta(days=10), 20)]
    winter_peaks = [max(hh.truth(d).gep) / 60 for d in _days(WINTER - timedelta(days=10), 20)]
    assert 3800 < max(summer_peaks) < 5200
    assert max(winter_peaks) < 1500
    t = hh.truth(SUMMER)
    assert t.gep[0] == 0 and t.gen[0] > 0
    assert t.gep[12 * 60] > 0 and t.gen[12 * 60] == 0
    summer = sum(hh.day_totals(d)["gep"] for d in _days(SUMMER - timedelta(days=10), 20))
    winter = sum(hh.day_totals(d)["gep"] for d in _days(WINTER - timedelta(days=10), 20))
    assert summer > 3 * winter


def test_cloudy_and_sunny_days_differ() -> None:
    hh = Household(4)
    totals = [hh.day_totals(d)["gep"] for d in _days(date(2024, 6, 1), 30)]
    assert max(totals) > 2 * min(totals)


def test_ev_sessions_book_fast_and_timers_as_boost_and_eco_as_divert() -> None:
    hh = Household(1)
    seen: set[int] = set()
    for d in _days(date(2024, 5, 1), 60):
        t = hh.truth(d)
        for s in t.sessions:
            first = s.start.hour * 60 + s.start.minute
            last = first + int((s.end - s.start).total_seconds() // 60)
            divert, boost = sum(t.h1d[first:last]), sum(t.h1b[first:last])
            assert divert + boost == s.delivered_j <= s.need_j
            if s.timed_boost or s.mode == MODE_FAST:
                assert divert == 0
                seen.add(-1 if s.timed_boost else MODE_FAST)
            else:
                assert boost == 0
                seen.add(s.mode)
        charging = [m for m in range(1440) if t.h1d[m] + t.h1b[m]]
        assert all(any(s.contains(_at(d, m)) for s in t.sessions) for m in charging)
    assert seen == {-1, MODE_FAST, MODE_ECO, MODE_ECO_PLUS}


def _at(d: date, minute: int) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(minutes=minute)


def test_fast_charging_runs_near_7_kw() -> None:
    hh = Household(1)
    for d in _days(date(2024, 5, 1), 60):
        for s in hh.ev_sessions(d):
            if s.mode == MODE_FAST and not s.timed_boost:
                state = hh.ev_state(s.start + timedelta(minutes=5))
                assert 7000 <= state.power_w <= 7400
                assert state.boosting and not state.timed_boost
                return
    raise AssertionError("no fast session in two months")


def test_day_totals_are_the_sum_of_minutes_and_match_the_pure_function() -> None:
    hh = Household(5)
    d = date(2024, 3, 3)
    totals = hh.day_totals(d)
    minutes = [hh.minute(_at(d, m)) for m in range(1440)]
    assert totals == {k: sum(x[k] for x in minutes) for k in ENERGY_KEYS}
    assert true_day_totals(5, d) == totals


def test_quirk_rates_roughly_as_documented() -> None:
    hh = Household(1)
    quirks = [hh.quirks(d) for d in _days(date(2021, 1, 1), 1000)]
    missing = sum(bool(q.missing_minutes) for q in quirks) / 1000
    outage = sum(q.outage_hour is not None for q in quirks) / 1000
    extra = sum(q.extra_record for q in quirks) / 1000
    drift = sum(len(q.hour_drift) for q in quirks) / 24000
    assert 0.2 < missing < 0.32
    assert 0.005 < outage < 0.04
    assert 0.03 < extra < 0.08
    assert 0.012 < drift < 0.03
    assert all(0.005 <= abs(f) <= 0.03 for q in quirks for f in q.hour_drift.values())


def test_no_quirks_gives_clean_full_days() -> None:
    hh = Household(1, quirk_rates=QuirkRates.none())
    for d in _days(date(2024, 1, 1), 5):
        assert len(hh.day_minutes(d)) == 1440
        assert len(hh.day_hours(d)) == 24
        assert hh.reported_day_totals(d) == hh.day_totals(d)


def test_gaps_lose_their_energy_in_the_reported_totals() -> None:
    hh = Household(1)
    d = next(hh.find_days(date(2024, 1, 1), date(2025, 1, 1), lambda q: q.outage_hour is not None))
    reported, truth = hh.reported_day_totals(d), hh.day_totals(d)
    assert reported["imp"] + reported["exp"] < truth["imp"] + truth["exp"]


def test_second_zappi_has_no_car_and_unknown_serial_is_refused() -> None:
    hh = Household(1, zappi_serials=("16000001", "16000002"))
    d = next(s for s in _days(date(2024, 6, 1), 30) if hh.day_totals(s)["h1b"])
    assert hh.day_totals(d, "16000002")["h1b"] == 0
    assert hh.ev_state(_at(d, 2), "16000002").session is None
    with pytest.raises(ValueError, match="unknown zappi serial"):
        hh.minute(_at(d, 0), "99")
    with pytest.raises(ValueError, match="aware"):
        hh.minute(datetime(2024, 6, 1, 12))
    with pytest.raises(ValueError, match="at least one"):
        Household(1, zappi_serials=())
    assert "16000002" in repr(hh)


def test_windows_across_midnight_and_future_cut() -> None:
    hh = Household(1, quirk_rates=QuirkRates.none())
    start = datetime(2024, 4, 1, 23, 0, tzinfo=UTC)
    assert len(hh.minute_window(start, 120)) == 120
    until = datetime(2024, 4, 2, 0, 30, 5, tzinfo=UTC)
    assert len(hh.minute_window(start, 120, until=until)) == 90
    assert len(hh.hour_window(start, 3)) == 3
    partial = hh.hour_window(start, 3, until=until)
    assert len(partial) == 2 and "hr" not in partial[-1]
