"""Cost of the stored energy, checked against sums computed by hand from the stored minutes.

The hand sums use exact fractions, the zone's own UTC offsets and the tariff rules as written in
docs/tariffs.md; they share no code with the cost layer.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from test_report_data import SERIAL, fill
from zapledger.models import Period, PricePoint, Resolution
from zapledger.report import balance, export_rows
from zapledger.report._cost import SCALE, Amount
from zapledger.store import Store, open_store
from zapledger.tariffs import Tariffs, parse_tariffs

TZ = "Europe/London"
ZONE = ZoneInfo(TZ)
FIRST, LAST = date(2024, 3, 30), date(2024, 4, 1)  # 2024-03-31 has 23 hours
NOW = datetime(2024, 6, 1, tzinfo=UTC)
TOU = """
[tariffs]
[[tariffs.contracts]]
name = "go"
kind = "time-of-use"
currency = "GBP"
from = 2024-01-01
import_per_kwh = "0.30"
export_per_kwh = "0.15"
standing_charge_per_day = "0.53"
windows = [
  { name = "T1", days = "all", start = "00:30", end = "04:30", import_per_kwh = "0.085" },
  { name = "weekend", days = "weekend", start = "10:00", end = "16:00", import_per_kwh = "0.20" },
]
"""
DYNAMIC = """
[tariffs]
[[tariffs.contracts]]
name = "spot"
kind = "dynamic"
currency = "GBP"
from = 2024-01-01
prices = "agile"
markup_per_kwh = "0.01"
export_per_kwh = "0.04"
"""


def tou_price(local: datetime) -> Fraction:
    """The import price of a local minute, by the rules of the TOU config above."""
    minute = local.hour * 60 + local.minute
    if 30 <= minute < 270:
        return Fraction("0.085")
    if local.weekday() >= 5 and 600 <= minute < 960:
        return Fraction("0.20")
    return Fraction("0.30")


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        fill(s, FIRST, LAST, TZ)
        yield s


def tariffs(text: str) -> Tariffs:
    return parse_tariffs(tomllib.loads(text)["tariffs"])


def exact(amount: Amount) -> Fraction:
    return Fraction(amount.scaled, SCALE)


def hand_sums(
    store: Store,
    price_of: object,
    export_price: Fraction,
    first: date = FIRST,
    last: date = LAST,
) -> dict[date, dict[str, Fraction]]:
    """Per local day, from every stored minute: each amount of docs/formulas.md."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
    out: dict[date, dict[str, Fraction]] = {}
    for r in store.history(SERIAL, Resolution.MINUTE, start, end):
        local = r.timestamp.astimezone(ZONE)
        if not first <= local.date() <= last:
            continue
        p_imp = price_of(r.timestamp)  # type: ignore[operator]
        kwh = Fraction(1, 3_600_000)
        diverted = r.diverted_h1_j + r.diverted_h2_j + r.diverted_h3_j
        boosted = r.boosted_h1_j + r.boosted_h2_j + r.boosted_h3_j
        d = out.setdefault(
            local.date(), dict.fromkeys(("imp", "exp", "grid", "solar", "sav"), Fraction(0))
        )
        d["imp"] += r.import_j * kwh * p_imp
        d["exp"] += r.export_j * kwh * export_price
        d["grid"] += boosted * kwh * p_imp
        d["solar"] += diverted * kwh * export_price
        d["sav"] += (r.generation_j - r.export_j) * kwh * p_imp + r.export_j * kwh * export_price
    return out


def test_day_costs_equal_hand_sums_of_the_minutes_on_a_dst_day(store: Store) -> None:
    report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(TOU), now=NOW)
    assert report.cost is not None and report.cost.currency == "GBP"
    hand = hand_sums(store, lambda ts: tou_price(ts.astimezone(ZONE)), Fraction("0.15"))
    assert [r.label for r in report.rows] == ["2024-03-30", "2024-03-31", "2024-04-01"]
    for row, cost in zip(report.rows, report.cost.rows, strict=True):
        want = hand[date.fromisoformat(row.label)]
        assert exact(cost.import_cost) == want["imp"], row.label
        assert exact(cost.export_revenue) == want["exp"]
        assert exact(cost.ev_grid_cost) == want["grid"]
        assert exact(cost.ev_solar_value) == want["solar"]
        assert exact(cost.savings) == want["sav"]
        assert exact(cost.standing_charge) == Fraction("0.53")
        assert exact(cost.net_cost) == want["imp"] - want["exp"] + Fraction("0.53")
        assert cost.unpriced_hours == 0 and cost.approximate_hours == 0
    total = report.cost.total
    assert exact(total.import_cost) == sum(d["imp"] for d in hand.values())
    assert total.import_cost.value == total.import_cost.priced_part


def test_hours_carry_no_standing_charge_and_sum_to_the_days(store: Store) -> None:
    t = tariffs(TOU)
    hours = balance(store, FIRST, LAST, TZ, period=Period.HOUR, tariffs=t, now=NOW)
    days = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=t, now=NOW)
    assert hours.cost is not None and days.cost is not None
    assert len(hours.rows) == 24 + 23 + 24
    assert all(c.standing_charge.scaled == 0 for c in hours.cost.rows)
    assert hours.cost.total.import_cost == days.cost.total.import_cost
    assert exact(days.cost.total.standing_charge) == 3 * Fraction("0.53")


def agile_prices(skip: datetime | None) -> list[PricePoint]:
    start = datetime(2024, 3, 29, 23, tzinfo=UTC)
    return [
        PricePoint(
            "agile",
            start + timedelta(minutes=30 * i),
            1800,
            100_000 + 1_000 * (i % 48),
            "GBP",
            "test",
        )
        for i in range(4 * 48)
        if start + timedelta(minutes=30 * i) != skip
    ]


def test_dynamic_half_hour_prices_minute_by_minute_and_across_midnight() -> None:
    with open_store("sqlite:///:memory:") as store:
        fill(store, FIRST, LAST, TZ)
        points = agile_prices(None)
        store.upsert_prices(points)
        price = {p.start: Fraction(p.micro_per_kwh, 1_000_000) + Fraction("0.01") for p in points}

        def of(ts: datetime) -> Fraction:
            return price[ts.replace(minute=ts.minute - ts.minute % 30)]

        hand = hand_sums(store, of, Fraction("0.04"))
        report = balance(
            store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(DYNAMIC), now=NOW
        )
    assert report.cost is not None
    for row, cost in zip(report.rows, report.cost.rows, strict=True):
        want = hand[date.fromisoformat(row.label)]
        assert exact(cost.import_cost) == want["imp"]
        assert exact(cost.ev_grid_cost) == want["grid"]
        assert exact(cost.savings) == want["sav"]


def test_an_hour_without_a_price_makes_every_total_that_includes_it_unknown() -> None:
    missing = datetime(2024, 3, 31, 12, tzinfo=UTC)
    with open_store("sqlite:///:memory:") as store:
        fill(store, FIRST, LAST, TZ)
        store.upsert_prices(agile_prices(missing))
        report = balance(
            store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(DYNAMIC), now=NOW
        )
        rows = list(
            export_rows(
                store, FIRST, LAST, TZ, resolution="hour", tariffs=tariffs(DYNAMIC), now=NOW
            )
        )
    assert report.cost is not None
    first, dst_day, last = report.cost.rows
    assert first.import_cost.value is not None and last.import_cost.value is not None
    assert dst_day.import_cost.value is None
    assert dst_day.unpriced_hours == 1 and dst_day.import_cost.text().endswith("+?")
    assert dst_day.net_cost.value is None and dst_day.ev_grid_cost.value is None
    assert report.cost.total.import_cost.value is None
    assert report.cost.total.import_cost.priced_part > 0  # the priced part is kept, marked
    assert any("without a price" in n for n in report.as_dict()["notes"])
    unknown = [r for r in rows if r["start_utc"] == missing]
    assert unknown[0]["import_cost"] is None and unknown[0]["cost_complete"] is False
    assert all(r["cost_complete"] for r in rows if r["start_utc"] != missing)


def test_days_without_a_contract_have_unknown_cost() -> None:
    later = TOU.replace("from = 2024-01-01", "from = 2024-03-31")
    with open_store("sqlite:///:memory:") as store:
        fill(store, FIRST, LAST, TZ)
        report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(later), now=NOW)
    assert report.cost is not None
    before, *rest = report.cost.rows
    assert before.import_cost.value is None and before.standing_charge.value is None
    assert all(c.import_cost.value is not None for c in rest)


def test_amounts_refuse_to_mix_currencies() -> None:
    with pytest.raises(ValueError, match="GBP and EUR"):
        Amount("GBP", 1) + Amount("EUR", 1)
    assert (Amount("GBP", SCALE * 3) - Amount("GBP", SCALE)).text() == "2.00"


FIXED_HOURLY_WINDOWS = TOU.replace(
    'start = "00:30", end = "04:30"', 'start = "01:00", end = "05:00"'
)


def test_whole_hour_prices_are_priced_per_hour_and_equal_the_hand_sums(store: Store) -> None:
    t = tariffs(FIXED_HOURLY_WINDOWS)
    assert t.granule_minutes() == 60

    def price(ts: datetime) -> Fraction:
        local = ts.astimezone(ZONE)
        minute = local.hour * 60 + local.minute
        if 60 <= minute < 300:
            return Fraction("0.085")
        if local.weekday() >= 5 and 600 <= minute < 960:
            return Fraction("0.20")
        return Fraction("0.30")

    report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=t, now=NOW)
    assert report.cost is not None
    hand = hand_sums(store, price, Fraction("0.15"))
    for row, cost in zip(report.rows, report.cost.rows, strict=True):
        want = hand[date.fromisoformat(row.label)]
        assert exact(cost.import_cost) == want["imp"]
        assert exact(cost.savings) == want["sav"]
        assert exact(cost.ev_solar_value) == want["solar"]


def test_without_minutes_a_half_hour_price_change_is_priced_at_the_mean_and_said() -> None:
    with open_store("sqlite:///:memory:") as store:
        fill(store, FIRST, LAST, TZ, minute=False)
        report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(TOU), now=NOW)
        rows = list(
            export_rows(store, FIRST, LAST, TZ, resolution="hour", tariffs=tariffs(TOU), now=NOW)
        )
    assert report.cost is not None
    # 00:30 and 04:30 local fall inside an hour: two hours a day priced at their mean price
    assert [c.approximate_hours for c in report.cost.rows] == [2, 2, 2]
    assert any("mean price" in n for n in report.as_dict()["notes"])
    hour = next(r for r in rows if r["start_local"].startswith("2024-03-30T00:00"))
    mean = (Fraction("0.30") + Fraction("0.085")) / 2
    want = Fraction(hour["import_j"], 3_600_000) * mean
    assert Fraction(hour["import_cost"]) == Fraction(round(want * 1_000_000), 1_000_000)


def test_an_unknown_export_price_makes_export_revenue_and_savings_unknown(store: Store) -> None:
    no_export = FIXED_HOURLY_WINDOWS.replace('export_per_kwh = "0.15"\n', "")
    report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs(no_export), now=NOW)
    assert report.cost is not None
    total = report.cost.total
    assert total.import_cost.known and total.ev_grid_cost.known
    assert total.export_revenue.value is None and total.savings.value is None
    assert total.ev_solar_value.value is None and total.net_cost.value is None


def test_fall_back_day_has_25_priced_hours_equal_to_the_hand_sums() -> None:
    first, last = date(2024, 10, 26), date(2024, 10, 28)
    with open_store("sqlite:///:memory:") as store:
        fill(store, first, last, TZ)
        report = balance(store, first, last, TZ, period=Period.DAY, tariffs=tariffs(TOU), now=NOW)
        hand = hand_sums(
            store, lambda ts: tou_price(ts.astimezone(ZONE)), Fraction("0.15"), first, last
        )
    assert report.cost is not None
    assert [r.coverage.expected_hours for r in report.rows] == [24, 25, 24]
    for row, cost in zip(report.rows, report.cost.rows, strict=True):
        want = hand[date.fromisoformat(row.label)]
        assert exact(cost.import_cost) == want["imp"]
        assert exact(cost.savings) == want["sav"]
