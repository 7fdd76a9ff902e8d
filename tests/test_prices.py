"""Prices: CSV import, providers from recorded answers, idempotent storage on both back ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from zapledger.exceptions import ConfigError, PriceError, UsageError
from zapledger.models import PricePoint
from zapledger.prices import fetch_prices, import_price_csv
from zapledger.store import Store, open_store

pytest_plugins = ["pg_server"]

FIXTURES = Path(__file__).parent / "fixtures" / "prices"
T0 = datetime(2024, 3, 31, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/zapledger.sqlite3"
    else:
        url = cast(str, request.getfixturevalue("pg_url"))
    with open_store(url) as s:
        yield s


def point(i: int, micro: int, tariff: str = "spot", minutes: int = 60) -> PricePoint:
    start = T0 + timedelta(minutes=minutes * i)
    return PricePoint(tariff, start, minutes * 60, micro, "EUR", "test")


def test_storing_the_same_prices_twice_writes_nothing_the_second_time(store: Store) -> None:
    prices = [point(i, 100_000 + i) for i in range(24)]
    assert store.upsert_prices(prices) == 24
    assert store.upsert_prices(prices) == 0
    assert store.prices("spot", T0, T0 + timedelta(days=1)) == prices


def test_a_changed_price_replaces_its_row_and_keys_include_the_duration(store: Store) -> None:
    store.upsert_prices([point(0, 100_000)])
    assert store.upsert_prices([point(0, 120_000)]) == 1
    assert store.upsert_prices([point(0, 50_000, minutes=15)]) == 1  # another key
    stored = store.prices("spot", T0, T0 + timedelta(hours=1))
    assert [(p.duration_s, p.micro_per_kwh) for p in stored] == [(900, 50_000), (3600, 120_000)]
    assert store.price_series() == [("spot", 2)]


def test_prices_overlapping_the_range_are_read(store: Store) -> None:
    store.upsert_prices([point(0, 1), point(1, 2), point(2, 3), point(0, 9, tariff="other")])
    mid = T0 + timedelta(minutes=90)
    assert [p.micro_per_kwh for p in store.prices("spot", mid, mid + timedelta(minutes=1))] == [2]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_import_is_exact_and_idempotent(tmp_path: Path) -> None:
    csv_path = write_csv(
        tmp_path / "p.csv",
        "start,minutes,price_per_kwh,currency\n"
        "2024-03-31T00:00:00Z,60,0.2345,EUR\n"
        "2024-03-31T02:00:00+01:00,15,-0.01,EUR\n",
    )
    with open_store("sqlite:///:memory:") as store:
        first = import_price_csv(store, csv_path, "spot")
        again = import_price_csv(store, csv_path, "spot")
        stored = store.prices("spot", T0, T0 + timedelta(hours=2))
    assert (first.read, first.written, again.written) == (2, 2, 0)
    assert [(p.start, p.duration_s, p.micro_per_kwh) for p in stored] == [
        (T0, 3600, 234_500),
        (T0 + timedelta(hours=1), 900, -10_000),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-03-31T00:00:00,60,0.2", "no UTC offset"),
        ("2024-03-31T00:00:00Z,45,0.2", "minutes should be 15, 30 or 60"),
        ("2024-03-31T00:10:00Z,15,0.2", "must start on its grid"),
        ("2024-03-31T00:00:00Z,60,0.1234567", "more than 6 decimals"),
        ("yesterday,60,0.2", "not an ISO 8601 time"),
    ],
)
def test_bad_csv_rows_name_their_line(tmp_path: Path, row: str, message: str) -> None:
    csv_path = write_csv(tmp_path / "p.csv", f"start,minutes,price_per_kwh\n{row}\n")
    with open_store("sqlite:///:memory:") as store, pytest.raises(PriceError) as err:
        import_price_csv(store, csv_path, "spot", currency="EUR")
    assert "line 2" in str(err.value) and message in str(err.value)


def test_csv_needs_its_columns_and_a_currency(tmp_path: Path) -> None:
    with open_store("sqlite:///:memory:") as store:
        with pytest.raises(PriceError, match="missing column"):
            import_price_csv(store, write_csv(tmp_path / "a.csv", "start,price\n"), "spot")
        no_currency = write_csv(tmp_path / "b.csv", "start,minutes,price_per_kwh\nZ,60,1\n")
        no_currency.write_text("start,minutes,price_per_kwh\n2024-03-31T00:00Z,60,1\n")
        with pytest.raises(PriceError, match="no currency"):
            import_price_csv(store, no_currency, "spot")
        with pytest.raises(PriceError, match="cannot read"):
            import_price_csv(store, tmp_path / "missing.csv", "spot")


class RecordedSession:
    """An aiohttp-session stand-in handed to the library (its ``session=``): it answers every
    request with a recorded payload and keeps what was asked."""

    def __init__(self, payload: dict[str, Any] | None, status: int = 200) -> None:
        self.payload, self.status = payload, status
        self.requests: list[tuple[str, str, Any]] = []

    async def request(self, method: str, url: Any, **kwargs: Any) -> RecordedSession:
        self.requests.append((method, str(url), kwargs.get("json")))
        return self

    def raise_for_status(self) -> None:
        if self.status >= 400:
            import aiohttp

            raise aiohttp.ClientError(f"status {self.status}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8"}

    async def json(self) -> Any:
        return self.payload


async def test_energyzero_prices_from_a_recorded_answer_are_stored_all_in() -> None:
    session = RecordedSession(json.loads((FIXTURES / "energyzero_2024-03-31.json").read_text()))
    with open_store("sqlite:///:memory:") as store:
        day = date(2024, 3, 31)
        result = await fetch_prices(store, "energyzero", day, day, session=session)
        again = await fetch_prices(store, "energyzero", day, day, session=session)
        stored = store.prices("energyzero", T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert (result.written, again.written) == (3, 0)
    method, url, body = session.requests[0]
    assert (method, url) == ("POST", "https://api.energyzero.nl/v1/gql")
    assert body["variables"]["input"]["intervalType"] == "Hourly"
    # all-in: market price incl. VAT plus each additional cost incl. VAT, as the library adds up
    expected = [
        round((0.061952 + 0.131648 + 0.021175) * 1e6),
        round((0.050941 + 0.131648 + 0.021175) * 1e6),
        round((-0.012463 + 0.131648 + 0.021175) * 1e6),
    ]
    assert [p.micro_per_kwh for p in stored] == expected
    assert [p.start for p in stored] == [T0 - timedelta(hours=1), T0, T0 + timedelta(hours=1)]
    assert {(p.duration_s, p.currency, p.source) for p in stored} == {(3600, "EUR", "energyzero")}


async def test_energyzero_failure_is_a_fetch_error() -> None:
    from zapledger.exceptions import PriceFetchError

    day, failing = date(2024, 3, 31), RecordedSession(None, 503)
    with open_store("sqlite:///:memory:") as store, pytest.raises(PriceFetchError, match="energy"):
        await fetch_prices(store, "energyzero", day, day, session=failing)


class RecordedOctopus:
    """Stands in for aiooctopusenergy's client (it needs Python 3.12+), answering from the
    recorded standard-unit-rates page with the library's Rate fields."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.asked: dict[str, Any] = {}

    async def __aenter__(self) -> RecordedOctopus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get_electricity_rates(self, **kwargs: Any) -> list[SimpleNamespace]:
        self.asked = kwargs
        return [
            SimpleNamespace(
                value_exc_vat=r["value_exc_vat"],
                value_inc_vat=r["value_inc_vat"],
                valid_from=datetime.fromisoformat(r["valid_from"].replace("Z", "+00:00")),
                valid_to=datetime.fromisoformat(r["valid_to"].replace("Z", "+00:00")),
            )
            for r in self.payload["results"]
        ]


async def test_octopus_agile_half_hours_in_pence_are_stored_as_gbp() -> None:
    client = RecordedOctopus(json.loads((FIXTURES / "octopus_agile_2024-03-31.json").read_text()))
    with open_store("sqlite:///:memory:") as store:
        result = await fetch_prices(
            store, "octopus", date(2024, 3, 31), date(2024, 3, 31), region="h", client=client
        )
        stored = store.prices("octopus", T0, T0 + timedelta(hours=2))
    assert result.written == 3
    assert client.asked["tariff_code"] == "E-1R-AGILE-24-10-01-H"
    assert client.asked["period_from"] == T0 and client.asked["period_to"] == T0 + timedelta(days=1)
    assert [(p.start, p.duration_s, p.micro_per_kwh, p.currency) for p in stored] == [
        (T0, 1800, 162_750, "GBP"),
        (T0 + timedelta(minutes=30), 1800, 189_000, "GBP"),
        (T0 + timedelta(minutes=60), 1800, 211_050, "GBP"),
    ]


async def test_octopus_without_its_library_says_what_to_install() -> None:
    try:
        import aiooctopusenergy  # noqa: F401
    except ImportError:
        with open_store("sqlite:///:memory:") as store, pytest.raises(ConfigError, match=r"3\.12"):
            await fetch_prices(store, "octopus", date(2024, 3, 31), date(2024, 3, 31))


async def test_a_backwards_range_is_a_usage_error() -> None:
    with open_store("sqlite:///:memory:") as store, pytest.raises(UsageError):
        await fetch_prices(store, "energyzero", date(2024, 3, 31), date(2024, 3, 30))


def test_the_price_table_arrives_with_schema_version_4(tmp_path: Path) -> None:
    from zapledger.exceptions import StoreError
    from zapledger.store._sqlite import SqliteStore

    url = f"sqlite:///{tmp_path}/old.sqlite3"
    with SqliteStore(url, _schema_version=3) as old, pytest.raises(StoreError):
        old.upsert_prices([point(0, 1)])
    with open_store(url) as new:
        assert new.schema_version() >= 4
        assert new.upsert_prices([point(0, 1)]) == 1
