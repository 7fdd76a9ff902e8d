"""Cost through the commands: prices import, report/export cost columns, the HTML cost section."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from test_cost import TOU
from test_report_data import fill
from zapledger.cli import main
from zapledger.models import Period
from zapledger.report import balance
from zapledger.report._html import build_report_page
from zapledger.store import open_store
from zapledger.tariffs import parse_tariffs

TZ = "Europe/London"
FIRST, LAST = date(2024, 3, 30), date(2024, 4, 1)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    with open_store(url) as store:
        fill(store, FIRST, LAST, TZ)
    config = tmp_path / "config.toml"
    config.write_text(TOU, encoding="utf-8")
    monkeypatch.setenv("ZAPLEDGER_CONFIG", str(config))
    return url


def run(db: str, *args: str) -> int:
    return main(["--db", db, *args])


def test_prices_import_twice_writes_once(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("start,minutes,price_per_kwh,currency\n2024-03-31T00:00:00Z,60,0.2,GBP\n")
    assert run(db, "prices", "import", str(path), "--tariff", "agile") == 0
    assert "1 row(s) written" in capsys.readouterr().out
    assert run(db, "prices", "import", str(path), "--tariff", "agile") == 0
    assert "0 row(s) written" in capsys.readouterr().out


def test_a_bad_price_file_is_bad_data(db: str, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("start,minutes,price_per_kwh\n2024-03-31T00:00:00,60,0.2\n")
    assert run(db, "prices", "import", str(path), "--tariff", "agile", "--currency", "GBP") == 6


def test_prices_fetch_checks_its_arguments(db: str) -> None:
    assert (
        run(
            db,
            "prices",
            "fetch",
            "--provider",
            "tibber",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-02",
        )
        == 2
    )
    assert run(db, "prices", "fetch", "--provider", "energyzero") == 2


def test_report_json_carries_the_library_cost(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("report", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--tz", TZ, "--json")
    assert run(db, *args) == 0
    data = json.loads(capsys.readouterr().out)
    tariffs = parse_tariffs(tomllib.loads(TOU)["tariffs"])
    with open_store(db) as store:
        report = balance(store, FIRST, LAST, TZ, period=Period.DAY, tariffs=tariffs)
    assert report.cost is not None
    for row, cost in zip(data["rows"], report.cost.rows, strict=True):
        assert Decimal(row["import_cost"]) == cost.import_cost.value
        assert Decimal(row["net_cost"]) == cost.net_cost.value
        assert row["currency"] == "GBP" and row["cost_complete"] is True
    assert Decimal(data["total"]["standing_charge"]) == Decimal("1.59")


def test_report_table_prints_the_cost_table(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "report", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--tz", TZ) == 0
    out = capsys.readouterr().out
    assert "Cost (GBP)" in out and "Standing" in out and "1.59" in out


def test_export_csv_has_the_cost_columns(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = (
        "export",
        "--resolution",
        "day",
        "--from",
        FIRST.isoformat(),
        "--to",
        LAST.isoformat(),
        "--tz",
        TZ,
    )
    assert run(db, *args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["standing_charge"] for r in rows] == ["0.530000"] * 3
    assert all(r["currency"] == "GBP" and r["cost_complete"] == "true" for r in rows)
    net = sum(Decimal(r["net_cost"]) for r in rows)
    imp = sum(Decimal(r["import_cost"]) for r in rows)
    exp = sum(Decimal(r["export_revenue"]) for r in rows)
    # each column is rounded to 1e-6 on its own: the identity holds to that rounding
    assert abs(net - (imp - exp + Decimal("1.59"))) <= Decimal("0.000003")


def test_minute_export_prices_each_minute(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = (
        "export",
        "--resolution",
        "minute",
        "--from",
        "2024-03-31",
        "--to",
        "2024-03-31",
        "--tz",
        TZ,
    )
    assert run(db, *args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 23 * 60
    for r in rows[:90]:  # 00:00-01:30 GMT: 00:30-04:30 local is the T1 window
        price = Decimal("0.085") if r["start_utc"] >= "2024-03-31T00:30:00Z" else Decimal("0.30")
        want = Decimal(int(r["import_j"])) * price / 3_600_000
        assert Decimal(r["import_cost"]) == want.quantize(Decimal("0.000001"))


def test_html_has_a_cost_section_whose_chart_draws_the_table(db: str, tmp_path: Path) -> None:
    args = (
        "report",
        "--from",
        FIRST.isoformat(),
        "--to",
        LAST.isoformat(),
        "--tz",
        TZ,
        "--html",
        str(tmp_path / "out"),
    )
    assert run(db, *args) == 0
    (page_path,) = (tmp_path / "out").glob("report-*.html")
    text = page_path.read_text()
    assert 'id="cost"' in text and 'id="chart-cost-2024-03-30-2024-04-01"' in text
    tariffs = parse_tariffs(tomllib.loads(TOU)["tariffs"])
    now = datetime(2024, 6, 1, tzinfo=UTC)
    with open_store(db) as store:
        page = build_report_page(store, FIRST, LAST, TZ, tariffs=tariffs, now=now)
    cost = page.report.cost
    assert cost is not None
    chart = next(c for c in page.charts if c.name.startswith("cost-"))
    imports = [float(c.import_cost.priced_part) for c in cost.rows]
    assert chart.drawn("import_cost").y == pytest.approx(imports)
    assert chart.drawn("export_revenue").total == pytest.approx(
        -float(cost.total.export_revenue.priced_part)
    )
    assert chart.drawn("net_cost").y == pytest.approx(
        [float(c.net_cost.priced_part) for c in cost.rows]
    )
    assert f"{cost.total.net_cost.priced_part:.2f}" in text


def test_parquet_cost_columns_are_exact_decimals(db: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "x.parquet"
    args = ("export", "--resolution", "day", "--format", "parquet", "--out", str(out))
    assert run(db, *args, "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--tz", TZ) == 0
    table = pq.read_table(out)
    assert str(table.schema.field("net_cost").type) == "decimal128(24, 6)"
    rows = table.to_pylist()
    assert [r["standing_charge"] for r in rows] == [Decimal("0.53")] * 3
    assert all(r["cost_complete"] for r in rows)


def test_prices_fetch_stores_the_providers_prices(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import zapledger.prices
    from test_prices import FIXTURES, RecordedSession

    real = zapledger.prices.fetch_prices
    answer = json.loads((FIXTURES / "energyzero_2024-03-31.json").read_text())

    async def recorded(*args: Any, **kwargs: Any) -> Any:  # the library, answered from a file
        return await real(*args, session=RecordedSession(answer), **kwargs)

    monkeypatch.setattr(zapledger.prices, "fetch_prices", recorded)
    args = (
        "prices",
        "fetch",
        "--provider",
        "energyzero",
        "--from",
        "2024-03-31",
        "--to",
        "2024-03-31",
    )
    assert run(db, *args) == 0
    assert "3 price(s) of 'energyzero'" in capsys.readouterr().out
    with open_store(db) as store:
        assert store.price_series() == [("energyzero", 3)]
