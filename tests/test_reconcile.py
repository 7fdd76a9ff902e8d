"""Reconciliation against a known truth: the simulator's household, its zappi history and meter
data written with injected calibration error, drift, gaps and a replaced meter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from zapledger.meters import import_file
from zapledger.models import Period, Resolution, parse_history
from zapledger.reconciliation import (
    REASON_METER_GAP,
    REASON_METER_RESET,
    REASON_NOT_FINAL,
    REASON_ZAPPI_MISSING,
    ReconcileReport,
    reconcile,
    reconcile_summary,
    render_chart,
)
from zapledger.simulator import Household, QuirkRates
from zapledger.simulator.meterdata import MeterModel, write_csv, write_dsmr5, write_dsmr22
from zapledger.store import Store, open_store

SERIAL = "16000001"
FIRST, LAST = date(2025, 5, 7), date(2025, 5, 11)  # five UTC days, the car charges on four


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _store_zappi_hours(store: Store, household: Household, first: date, last: date) -> None:
    """The zappi's hourly history as the cloud serves it, decoded like a sync would."""
    for day in _days(first, last):
        history = parse_history({f"U{SERIAL}": household.day_hours(day)}, Resolution.HOUR)
        store.upsert_history(SERIAL, Resolution.HOUR, history.records)
    store.upsert_device(SERIAL, "zappi")


@pytest.fixture(scope="module")
def household() -> Household:
    return Household(seed=11, quirk_rates=QuirkRates.none())


@pytest.fixture(scope="module")
def known_truth(
    household: Household, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, ReconcileReport]]:
    """+2.0 % on import, -1.5 % on export (DSMR 5), +0.5 % PV and -1.0 % EV (CSV)."""
    folder = tmp_path_factory.mktemp("truth")
    start, end = _utc(FIRST) - timedelta(hours=2), _utc(LAST) + timedelta(days=1, hours=2)
    p1 = MeterModel(calibration_pct={"import": 2.0, "export": -1.5})
    pv_ev = MeterModel(meter_id="PVEV", calibration_pct={"pv": 0.5, "ev": -1.0})
    d5 = write_dsmr5(folder / "p1.txt", household, start, end, interval_s=300, model=p1)
    csv_file = write_csv(
        folder / "pvev.csv",
        household,
        start,
        end,
        interval_s=900,
        model=pv_ev,
        channels=("pv", "ev"),
    )
    with open_store(f"sqlite:///{folder / 'db.sqlite3'}") as store:
        _store_zappi_hours(store, household, FIRST, LAST)
        assert import_file(d5, store).bad == 0
        assert import_file(csv_file, store).bad == 0
        yield store, reconcile(store, FIRST, LAST, "UTC", serial=SERIAL)


def test_known_truth_bias_is_recovered(known_truth: tuple[Store, ReconcileReport]) -> None:
    _, report = known_truth
    expected = {"import": 2.0, "export": -1.5, "generation": 0.5, "ev": -1.0}
    assert [s.pair for s in report.summaries] == list(expected)
    for pair, bias in expected.items():
        summary = report.summary(pair)
        assert summary.hours == summary.hours_compared == 120, pair
        assert summary.bias_pct == pytest.approx(bias, abs=0.1), pair
        assert summary.excluded == {}
    assert report.meter_ids == ("PVEV", "SIM4530000001")


def test_known_truth_rows_by_day(known_truth: tuple[Store, ReconcileReport]) -> None:
    _, report = known_truth
    imports = [r for r in report.rows if r.pair == "import"]
    assert [r.period for r in imports] == [d.isoformat() for d in _days(FIRST, LAST)]
    for row in imports:
        assert row.hours == 24
        assert row.comparable and not row.estimated
        assert row.relative_pct == pytest.approx(2.0, abs=0.1)
        assert row.difference_kwh == pytest.approx(row.zappi_kwh * 0.02, abs=0.01)  # type: ignore[operator]
    assert report.days == report.rows
    # beyond a tolerance of 1 %, the import days are flagged; the PV ones are not
    strict = reconcile(known_truth[0], FIRST, LAST, "UTC", serial=SERIAL, tolerance_pct=1.0)
    assert all(r.flagged for r in strict.rows if r.pair == "import")
    assert not any(r.flagged for r in strict.rows if r.pair == "generation")
    assert strict.summary("import").flagged_periods == 5
    assert strict.flagged >= 10
    lenient = reconcile(known_truth[0], FIRST, LAST, "UTC", serial=SERIAL, tolerance_pct=3.0)
    assert lenient.flagged == 0


def test_known_truth_summary_details(known_truth: tuple[Store, ReconcileReport]) -> None:
    _, report = known_truth
    summary = report.summary("import")
    assert summary.meter_kwh == pytest.approx(summary.zappi_kwh * 1.02, rel=1e-3)
    assert summary.mean_abs_difference_kwh is not None
    assert 0 < summary.mean_abs_difference_kwh < 0.1
    assert summary.drift_pct_per_month == pytest.approx(0.0, abs=0.5)
    assert len(summary.worst_hours) == 5
    worst = [abs(c.difference_kwh or 0) for c in summary.worst_hours]
    assert worst == sorted(worst, reverse=True)
    data = report.as_dict()
    assert data["summaries"][0]["bias_pct"] == pytest.approx(2.0, abs=0.1)
    assert data["rows"][0]["period"] == "2025-05-07"
    assert data["period"] == "day"
    with pytest.raises(KeyError):
        report.summary("gas")


def test_by_hour_and_by_month(known_truth: tuple[Store, ReconcileReport]) -> None:
    store, _ = known_truth
    hourly = reconcile(store, FIRST, FIRST, "UTC", serial=SERIAL, period="hour")
    imports = [r for r in hourly.rows if r.pair == "import"]
    assert len(imports) == 24
    assert imports[10].period == "2025-05-07T10:00+00:00"
    monthly = reconcile(store, FIRST, LAST, "Europe/London", serial=SERIAL, period=Period.MONTH)
    assert [r.period for r in monthly.rows if r.pair == "import"] == ["2025-05"]
    # London days start at 23:00 UTC: the first hour and the last 23 lie outside the data
    first = next(r for r in monthly.rows if r.pair == "import")
    assert REASON_ZAPPI_MISSING in first.reasons
    assert first.hours == 120


def test_meter_selection(known_truth: tuple[Store, ReconcileReport]) -> None:
    store, _ = known_truth
    only_p1 = reconcile(store, FIRST, LAST, "UTC", serial=SERIAL, meter_ids=["SIM4530000001"])
    assert [s.pair for s in only_p1.summaries] == ["import", "export"]
    nothing = reconcile(store, FIRST, LAST, "UTC", serial=SERIAL, meter_ids=["unknown"])
    assert nothing.summaries == () and nothing.rows == ()


def test_chart_png(known_truth: tuple[Store, ReconcileReport], tmp_path: Path) -> None:
    _, report = known_truth
    out = render_chart(report, tmp_path / "sub" / "chart.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = reconcile(known_truth[0], FIRST, LAST, "UTC", serial=SERIAL, meter_ids=["unknown"])
    assert render_chart(empty, tmp_path / "empty.png").stat().st_size > 0


def test_drift_is_recovered(household: Household, tmp_path: Path) -> None:
    first, last = date(2025, 5, 1), date(2025, 5, 21)
    start, end = _utc(first) - timedelta(hours=1), _utc(last) + timedelta(days=1, hours=1)
    model = MeterModel(calibration_pct={"import": 1.0}, drift_pct_per_month={"import": 1.5})
    csv_file = write_csv(
        tmp_path / "p1.csv", household, start, end, interval_s=600, model=model,
        channels=("import_t1", "import_t2"),
    )  # fmt: skip
    with open_store("sqlite:///:memory:") as store:
        _store_zappi_hours(store, household, first, last)
        import_file(csv_file, store)
        summary = reconcile(store, first, last, "UTC", serial=SERIAL).summary("import")
    assert summary.drift_pct_per_month == pytest.approx(1.5, abs=0.1)
    # the energy-weighted mean error of three weeks that start at +1 %
    assert 1.3 < (summary.bias_pct or 0) < 1.8


def test_meter_gaps_are_explained_and_left_out(household: Household, tmp_path: Path) -> None:
    first, last = date(2025, 5, 8), date(2025, 5, 10)
    start, end = _utc(first) - timedelta(hours=1), _utc(last) + timedelta(days=1, hours=1)
    inside = (_utc(first) + timedelta(hours=9, minutes=50), _utc(first) + timedelta(hours=13))
    across = (_utc(last) - timedelta(hours=2), _utc(last) + timedelta(hours=1, minutes=30))
    model = MeterModel(calibration_pct={"import": 2.0}, gaps=(inside, across))
    capture = write_dsmr22(tmp_path / "p1.txt", household, start, end, interval_s=300, model=model)
    with open_store("sqlite:///:memory:") as store:
        _store_zappi_hours(store, household, first, last)
        import_file(capture, store)
        report = reconcile(store, first, last, "UTC", serial=SERIAL)
    summary = report.summary("import")
    # readings at 09:45 and 13:00, 21:55 and 01:30: the hours 09..12 and 21..01 have a
    # boundary interpolated over more than 5 minutes
    assert summary.excluded == {REASON_METER_GAP: 9}
    assert summary.hours_compared == 72 - 9
    assert summary.bias_pct == pytest.approx(2.0, abs=0.1)
    days = {r.period: r for r in report.rows if r.pair == "import"}
    # a gap inside a day loses nothing: the totaliser kept counting
    assert days["2025-05-08"].comparable
    assert days["2025-05-08"].relative_pct == pytest.approx(2.0, abs=0.1)
    # a gap across midnight leaves both days' shared boundary estimated
    assert days["2025-05-09"].reasons == (REASON_METER_GAP,)
    assert days["2025-05-09"].estimated
    assert days["2025-05-10"].reasons == (REASON_METER_GAP,)


def test_zappi_gaps_and_days_not_yet_final(household: Household, tmp_path: Path) -> None:
    first, last = date(2025, 5, 8), date(2025, 5, 9)
    start, end = _utc(first) - timedelta(hours=1), _utc(last) + timedelta(days=1, hours=1)
    model = MeterModel(calibration_pct={"import": 2.0})
    capture = write_dsmr5(tmp_path / "p1.txt", household, start, end, interval_s=300, model=model)
    with open_store("sqlite:///:memory:") as store:
        # day 1: hours and minutes, three minutes lost in the cloud in its busiest import hour
        # (the hour record lacks them too); day 2: minutes only, hour 05 missing entirely
        minutes = household.day_minutes(first)
        hours = household.day_hours(first)
        busy = max(hours, key=lambda r: int(r.get("imp", 0)))
        hr = int(busy.get("hr", 0))
        lost = [r for r in minutes if r.get("hr", 0) == hr and int(r.get("imp", 0)) > 0][:3]
        kept = [r for r in minutes if r not in lost]
        for key in ("imp", "exp", "gep", "gen", "h1d", "h1b"):
            busy[key] = sum(int(m.get(key, 0)) for m in kept if m.get("hr", 0) == hr)
        for resolution, records in ((Resolution.MINUTE, kept), (Resolution.HOUR, hours)):
            history = parse_history({f"U{SERIAL}": records}, resolution)
            store.upsert_history(SERIAL, resolution, history.records)
        second = [r for r in household.day_minutes(last) if r.get("hr", 0) != 5]
        history = parse_history({f"U{SERIAL}": second}, Resolution.MINUTE)
        store.upsert_history(SERIAL, Resolution.MINUTE, history.records)
        import_file(capture, store)
        # "now" is one hour after the second day ended: that day is not final yet
        now = _utc(last) + timedelta(days=1, hours=1)
        report = reconcile(store, first, last, "UTC", serial=SERIAL, period="hour", now=now)
        summary_only = reconcile_summary(store, first, first, "UTC", serial=SERIAL)
    rows = {r.period: r for r in report.rows if r.pair == "import"}
    gap_hour = rows[f"2025-05-08T{hr:02d}:00+00:00"]
    assert gap_hour.reasons == (REASON_ZAPPI_MISSING,)
    assert gap_hour.relative_pct is not None and gap_hour.relative_pct > 2.1  # meter saw more
    assert rows[f"2025-05-08T{(hr + 1) % 24:02d}:00+00:00"].comparable
    assert rows["2025-05-09T04:00+00:00"].reasons == (REASON_NOT_FINAL,)
    missing = rows["2025-05-09T05:00+00:00"]
    assert missing.zappi_kwh is None and missing.difference_kwh is None
    assert set(missing.reasons) == {REASON_ZAPPI_MISSING, REASON_NOT_FINAL}
    summary = report.summary("import")
    assert summary.hours_compared == 23
    assert summary.excluded == {REASON_ZAPPI_MISSING: 2, REASON_NOT_FINAL: 24}
    assert summary.bias_pct == pytest.approx(2.0, abs=0.1)
    assert summary_only.last_day == first and summary_only.period is Period.DAY


def test_meter_replacement(household: Household, tmp_path: Path) -> None:
    first, last = date(2025, 5, 8), date(2025, 5, 9)
    start, end = _utc(first) - timedelta(hours=1), _utc(last) + timedelta(days=1, hours=1)
    swap = _utc(first) + timedelta(hours=15, minutes=32)
    for replacement in ("SIM-NEW", "SIM4530000001"):  # a new meter, or the same one reset
        model = MeterModel(
            calibration_pct={"import": 2.0}, replace_at=swap, replacement_id=replacement
        )
        capture = write_dsmr5(
            tmp_path / "p1.txt", household, start, end, interval_s=300, model=model
        )
        with open_store("sqlite:///:memory:") as store:
            _store_zappi_hours(store, household, first, last)
            import_file(capture, store)
            report = reconcile(store, first, last, "UTC", serial=SERIAL)
        summary = report.summary("import")
        assert summary.excluded == {REASON_METER_GAP: 1, REASON_METER_RESET: 1}, replacement
        assert summary.hours_compared == 47
        assert summary.bias_pct == pytest.approx(2.0, abs=0.1)
        day = next(r for r in report.rows if r.pair == "import")
        assert set(day.reasons) == {REASON_METER_GAP, REASON_METER_RESET}
        assert day.meter_kwh is not None and day.meter_kwh > 0  # never a negative day


def test_dst_day_in_amsterdam(tmp_path: Path) -> None:
    """2025-10-26 has 25 hours in Europe/Amsterdam; DSMR 5 meter times carry S/W."""
    household = Household(seed=5, timezone="Europe/Amsterdam", quirk_rates=QuirkRates.none())
    day = date(2025, 10, 26)
    start = datetime(2025, 10, 25, 20, tzinfo=UTC)
    end = datetime(2025, 10, 27, 1, tzinfo=UTC)
    model = MeterModel(calibration_pct={"import": 2.0, "export": 2.0})
    capture = write_dsmr5(tmp_path / "p1.txt", household, start, end, interval_s=120, model=model)
    with open_store("sqlite:///:memory:") as store:
        _store_zappi_hours(store, household, date(2025, 10, 25), date(2025, 10, 26))
        assert import_file(capture, store).bad == 0
        report = reconcile(store, day, day, "Europe/Amsterdam", serial=SERIAL)
        hourly = reconcile(store, day, day, "Europe/Amsterdam", serial=SERIAL, period="hour")
    row = next(r for r in report.rows if r.pair == "import")
    assert row.hours == 25
    assert row.start == datetime(2025, 10, 25, 22, tzinfo=UTC)
    assert row.comparable
    assert row.relative_pct == pytest.approx(2.0, abs=0.1)
    labels = [r.period for r in hourly.rows if r.pair == "import"]
    assert labels[2:5] == [
        "2025-10-26T02:00+02:00",
        "2025-10-26T02:00+01:00",
        "2025-10-26T03:00+01:00",
    ]
    assert report.summary("import").bias_pct == pytest.approx(2.0, abs=0.1)


def test_bad_arguments(known_truth: tuple[Store, ReconcileReport]) -> None:
    store, _ = known_truth
    with pytest.raises(ValueError, match="before"):
        reconcile(store, LAST, FIRST, "UTC", serial=SERIAL)
    with pytest.raises(ValueError, match="week"):
        reconcile(store, FIRST, LAST, "UTC", serial=SERIAL, period="week")


def test_all_zappis_together(known_truth: tuple[Store, ReconcileReport]) -> None:
    store, report = known_truth
    together = reconcile(store, FIRST, LAST, "UTC", serial=None)
    assert together.summary("import").bias_pct == pytest.approx(
        report.summary("import").bias_pct or 0, abs=1e-9
    )


def test_sync_state_says_not_final(household: Household, tmp_path: Path) -> None:
    day = date(2025, 5, 8)
    start, end = _utc(day) - timedelta(hours=1), _utc(day) + timedelta(days=1, hours=1)
    csv_file = write_csv(tmp_path / "p1.csv", household, start, end, channels=("import_t1",))
    with open_store("sqlite:///:memory:") as store:
        history = parse_history({f"U{SERIAL}": household.day_hours(day)}, Resolution.HOUR)
        store.write_day(
            SERIAL, Resolution.HOUR, day, "UTC", history, expected=24, final=False, fetched_at=end
        )
        store.upsert_device(SERIAL, "zappi")
        import_file(csv_file, store)
        for serial in (SERIAL, None):
            report = reconcile(store, day, day, "UTC", serial=serial)
            assert report.rows[0].reasons == (REASON_NOT_FINAL,)
