"""Each charge session priced minute by minute, recomputed by hand from the stored minutes and
prices: across midnight and the spring-forward change of Europe/London, under a time-of-use and a
dynamic tariff; and the month's claim files."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from test_cost import DYNAMIC, TOU, tou_price
from zapledger.cli import main
from zapledger.exceptions import UsageError
from zapledger.models import HistoryRecord, PricePoint, Resolution
from zapledger.report._claim import claim_of, cost_sessions, reimbursement, write_claim
from zapledger.report._cost import SCALE
from zapledger.sessions import ChargeSession, sessions
from zapledger.store import Store, open_store
from zapledger.tariffs import Tariffs, parse_tariffs

TZ = "Europe/London"
SERIAL = "10000001"
M = timedelta(minutes=1)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
#: 23:30 GMT on Saturday to 03:30 BST on Sunday: across midnight and the missing hour
START = datetime(2024, 3, 30, 23, 30, tzinfo=UTC)
END = datetime(2024, 3, 31, 2, 30, tzinfo=UTC)
#: a second session on an ordinary evening
START2 = datetime(2024, 3, 12, 17, 50, tzinfo=UTC)
END2 = datetime(2024, 3, 12, 18, 40, tzinfo=UTC)


def ev_minute(ts: datetime) -> HistoryRecord:
    i = int((ts - START).total_seconds()) // 60
    return HistoryRecord(
        timestamp=ts,
        duration_s=60,
        import_j=420_000,
        diverted_h1_j=(i % 5) * 1_000,
        boosted_h1_j=420_000 - (i % 7) * 3_000,
    )


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        s.upsert_device(SERIAL, "zappi")
        for a, b in ((START, END), (START2, END2)):
            n = int((b - a).total_seconds()) // 60
            s.upsert_history(SERIAL, Resolution.MINUTE, [ev_minute(a + i * M) for i in range(n)])
        yield s


def stored_sessions(store: Store) -> list[ChargeSession]:
    """The sessions the sessions module derives from the stored minutes (two in March)."""
    report = sessions(store, date(2024, 3, 1), date(2024, 3, 31), TZ, now=NOW)
    assert [(s.start, s.end) for s in report.sessions] == [(START2, END2), (START, END)]
    return list(report.sessions)


def tariffs(text: str) -> Tariffs:
    return parse_tariffs(tomllib.loads(text)["tariffs"])


def by_hand(
    store: Store, a: datetime, b: datetime, imp: object, exp: Fraction
) -> tuple[Fraction, ...]:
    kwh = Fraction(1, 3_600_000)
    grid = solar = claim = Fraction(0)
    energy = 0
    for r in store.history(SERIAL, Resolution.MINUTE, a, b):
        p = imp(r.timestamp)  # type: ignore[operator]
        grid += r.boosted_h1_j * kwh * p
        solar += r.diverted_h1_j * kwh * exp
        claim += (r.boosted_h1_j + r.diverted_h1_j) * kwh * p
        energy += r.boosted_h1_j + r.diverted_h1_j
    return Fraction(energy), grid, solar, claim


def test_time_of_use_session_across_midnight_and_dst(store: Store) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(TZ)
    costs = cost_sessions(store, stored_sessions(store), tariffs(TOU), TZ)
    for cost, (a, b) in zip(costs, ((START2, END2), (START, END)), strict=True):
        energy, grid, solar, claim = by_hand(
            store, a, b, lambda ts: tou_price(ts.astimezone(zone)), Fraction("0.15")
        )
        assert cost.energy_j == energy
        assert Fraction(cost.grid_cost.scaled, SCALE) == grid
        assert Fraction(cost.solar_value.scaled, SCALE) == solar
        assert Fraction(cost.claim.scaled, SCALE) == claim
        assert cost.claim.known and cost.tariffs == ("go",)
    night = costs[1]
    # three hours of charging, about 1.5 h of them in T1 (00:30 GMT to 03:30 BST is 2 h of UTC)
    assert 0 < night.claim.value < Fraction(420_000 * 180, 3_600_000) * Fraction("0.30")  # type: ignore[operator]


def agile(skip: datetime | None = None) -> list[PricePoint]:
    start = datetime(2024, 3, 12, tzinfo=UTC)
    points = []
    for i in range(20 * 48):
        at = start + timedelta(minutes=30 * i)
        if at != skip:
            points.append(PricePoint("agile", at, 1800, 50_000 + 7_000 * (i % 11), "GBP", "t"))
    return points


def test_dynamic_session_minute_by_minute(store: Store) -> None:
    points = agile()
    store.upsert_prices(points)
    price = {p.start: Fraction(p.micro_per_kwh, 1_000_000) + Fraction("0.01") for p in points}

    def of(ts: datetime) -> Fraction:
        return price[ts.replace(minute=ts.minute - ts.minute % 30)]

    costs = cost_sessions(store, stored_sessions(store), tariffs(DYNAMIC), TZ)
    for cost, (a, b) in zip(costs, ((START2, END2), (START, END)), strict=True):
        _, grid, solar, claim = by_hand(store, a, b, of, Fraction("0.04"))
        assert Fraction(cost.grid_cost.scaled, SCALE) == grid
        assert Fraction(cost.claim.scaled, SCALE) == claim
        assert Fraction(cost.solar_value.scaled, SCALE) == solar


def test_a_minute_without_a_price_makes_the_session_unknown(store: Store, tmp_path: Path) -> None:
    store.upsert_prices(agile(skip=datetime(2024, 3, 31, 1, 0, tzinfo=UTC)))
    costs = cost_sessions(store, stored_sessions(store), tariffs(DYNAMIC), TZ)
    evening, night = costs
    assert evening.claim.known
    assert night.claim.value is None and night.claim.unpriced == 30
    claim = claim_of("2024-03", TZ, tariffs(DYNAMIC), costs)
    assert claim.total.value is None
    csv_path, html_path = write_claim(claim, tmp_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert rows[1]["claim"] == "" and rows[1]["unpriced_minutes"] == "30"
    assert rows[-1]["serial"] == "TOTAL" and rows[-1]["claim"] == ""
    assert "+?" in html_path.read_text()


def test_claim_files_list_sessions_kwh_tariff_and_totals(store: Store, tmp_path: Path) -> None:
    costs = cost_sessions(store, stored_sessions(store), tariffs(TOU), TZ)
    claim = claim_of("2024-03", TZ, tariffs(TOU), costs)
    csv_path, html_path = write_claim(claim, tmp_path)
    assert (csv_path.name, html_path.name) == ("claim-2024-03.csv", "claim-2024-03.html")
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [r["start_local"] for r in rows[:2]] == [
        "2024-03-12T17:50:00+00:00",
        "2024-03-30T23:30:00+00:00",
    ]
    assert rows[1]["end_local"] == "2024-03-31T03:30:00+01:00"
    assert all(r["tariffs"] == "go" for r in rows[:2])
    total = rows[-1]
    assert total["serial"] == "TOTAL"
    kwh_sum = sum(c.energy_j for c in costs) / 3_600_000
    assert float(total["kwh"]) == pytest.approx(kwh_sum, abs=0.001)
    assert total["claim"] == str(claim.total.value)
    page = html_path.read_text()
    assert "2024-03-30 23:30" in page and "2024-03-31 03:30" in page
    assert f"{claim.total.priced_part:.2f}" in page


def test_no_sessions_cost_nothing(store: Store) -> None:
    assert cost_sessions(store, [], tariffs(TOU), TZ) == []
    empty = reimbursement(store, "2024-02", TZ, tariffs(TOU), now=NOW)
    assert empty.sessions == () and empty.total.value == 0


def test_claim_files_are_not_overwritten_without_force(store: Store, tmp_path: Path) -> None:
    from zapledger.exceptions import OutputError

    claim = claim_of(
        "2024-03", TZ, tariffs(TOU), cost_sessions(store, stored_sessions(store), tariffs(TOU), TZ)
    )
    write_claim(claim, tmp_path)
    with pytest.raises(OutputError, match="already exists"):
        write_claim(claim, tmp_path)
    assert write_claim(claim, tmp_path, force=True)[0].exists()


def test_reimbursement_of_a_month_is_the_sum_of_its_sessions(store: Store) -> None:
    claim = reimbursement(store, "2024-03", TZ, tariffs(TOU), now=NOW)
    costs = cost_sessions(store, stored_sessions(store), tariffs(TOU), TZ)
    assert claim.sessions == tuple(costs)
    assert claim.total.scaled == sum(c.claim.scaled for c in costs)
    with pytest.raises(UsageError, match="not a month"):
        reimbursement(store, "March", TZ, tariffs(TOU), now=NOW)


def test_sessions_reimbursement_command_writes_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    with open_store(url) as s:
        s.upsert_device(SERIAL, "zappi")
        n = int((END - START).total_seconds()) // 60
        s.upsert_history(SERIAL, Resolution.MINUTE, [ev_minute(START + i * M) for i in range(n)])
    args = [
        "--db",
        url,
        "sessions",
        "--tz",
        TZ,
        "--reimbursement",
        "2024-03",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 3  # no [tariffs] yet: a configuration error
    config = tmp_path / "config.toml"
    config.write_text(TOU, encoding="utf-8")
    monkeypatch.setenv("ZAPLEDGER_CONFIG", str(config))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 session(s)" in out and "GBP" in out
    assert (tmp_path / "claim-2024-03.csv").exists() and (tmp_path / "claim-2024-03.html").exists()
