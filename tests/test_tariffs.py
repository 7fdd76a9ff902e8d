"""Tariffs from the [tariffs] config table: kinds, validity periods, and clear errors at load."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from zapledger.exceptions import ConfigError
from zapledger.tariffs import TariffKind, load_tariffs, parse_tariffs

CONFIG = """
[tariffs]
currency = "GBP"

[[tariffs.contracts]]
name = "flat 2024"
kind = "fixed"
from = 2024-01-01
to = 2024-06-30
import_per_kwh = "0.2450"
export_per_kwh = 0.15
standing_charge_per_day = "0.53"

[[tariffs.contracts]]
name = "go"
kind = "time-of-use"
from = 2024-07-01
import_per_kwh = "0.30"
export_per_kwh = "0.15"
windows = [
  { name = "T1", days = "all", start = "00:30", end = "04:30", import_per_kwh = "0.085" },
  { name = "weekend", days = "weekend", start = "10:00", end = "16:00", import_per_kwh = "0.20" },
]
"""


def tariffs_of(text: str) -> object:
    return parse_tariffs(tomllib.loads(text)["tariffs"])


def test_contracts_load_sorted_with_exact_micro_prices() -> None:
    t = parse_tariffs(tomllib.loads(CONFIG)["tariffs"])
    flat, go = t.contracts
    assert flat.kind is TariffKind.FIXED and go.kind is TariffKind.TIME_OF_USE
    assert flat.import_micro == 245_000
    assert flat.export_micro == 150_000
    assert flat.standing_micro_per_day == 530_000
    assert t.currency == "GBP"
    assert t.on(date(2024, 6, 30)) is flat
    assert t.on(date(2024, 7, 1)) is go
    assert t.on(date(2023, 12, 31)) is None


def test_time_of_use_windows_in_local_minutes_and_weekdays() -> None:
    go = parse_tariffs(tomllib.loads(CONFIG)["tariffs"]).contracts[1]
    saturday, monday = 5, 0
    assert go.import_at(monday, 30) == 85_000  # 00:30
    assert go.import_at(monday, 29) == 300_000  # 00:29: outside every window
    assert go.import_at(monday, 4 * 60 + 30) == 300_000  # the end is not in the window
    assert go.import_at(saturday, 12 * 60) == 200_000
    assert go.import_at(monday, 12 * 60) == 300_000


def test_window_across_midnight() -> None:
    text = CONFIG.replace('start = "00:30", end = "04:30"', 'start = "23:00", end = "07:00"')
    go = parse_tariffs(tomllib.loads(text)["tariffs"]).contracts[1]
    assert go.import_at(2, 23 * 60 + 59) == 85_000
    assert go.import_at(2, 6 * 60 + 59) == 85_000
    assert go.import_at(2, 7 * 60) == 300_000


def test_half_hour_windows_make_half_hour_granules() -> None:
    t = parse_tariffs(tomllib.loads(CONFIG)["tariffs"])
    assert t.granule_minutes() == 30
    assert t.granule_minutes([900]) == 15


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("to = 2024-06-30", "to = 2024-07-01"), "tariffs overlap"),
        (("to = 2024-06-30\n", ""), "tariffs overlap"),
        (('import_per_kwh = "0.2450"', 'import_per_kwh = "0.2450001"'), "more than 6 decimals"),
        (('import_per_kwh = "0.2450"', 'import_per_kwh = "cheap"'), "not a number"),
        (
            ('import_per_kwh = "0.2450"', 'import_pre_kwh = "0.2450"'),
            "unknown key(s) import_pre_kwh",
        ),
        (('kind = "fixed"', 'kind = "flat"'), "kind should be one of"),
        (('start = "00:30"', 'start = "25:00"'), "not a time"),
        (('days = "weekend"', 'days = "sundays"'), "days should be"),
        (('currency = "GBP"', 'currency = "GBP"\nvat = 5'), "unknown key(s) vat in [tariffs]"),
        (("from = 2024-07-01", 'from = 2024-07-01\ncurrency = "EUR"'), "one currency"),
        (("to = 2024-06-30", "to = 2023-06-30"), "is before 'from'"),
        (('import_per_kwh = "0.2450"', "import_per_kwh = true"), "should be a number"),
        (('import_per_kwh = "0.2450"', 'import_per_kwh = "nan"'), "not a finite number"),
        (('start = "00:30"', "start = 30"), "quoted local time"),
        (('start = "00:30"', 'start = "00:30:15"'), "whole minutes"),
        (('start = "00:30", end = "04:30"', 'start = "04:30", end = "04:30"'), "the same time"),
        (('start = "00:30", end = "04:30"', 'end = "04:30"'), "needs 'start'"),
        (('days = "all"', 'days = ["mon", "funday"]'), "days should be"),
        (("from = 2024-07-01", 'from = "July"'), "should be a date"),
        (("from = 2024-07-01\n", ""), "needs 'from'"),
        (('name = "go"', 'name = ""'), "non-empty string"),
        (('currency = "GBP"', 'currency = "POUNDS"'), "currency code"),
        (('currency = "GBP"', "currency = 826"), "code like"),
    ],
)
def test_mistakes_are_config_errors(change: tuple[str, str], message: str) -> None:
    text = CONFIG.replace(*change, 1)
    assert text != CONFIG
    with pytest.raises(ConfigError) as err:
        tariffs_of(text)
    assert message in str(err.value)


def test_fixed_needs_a_price_and_tou_needs_windows() -> None:
    with pytest.raises(ConfigError, match="needs import_per_kwh"):
        tariffs_of(CONFIG.replace('import_per_kwh = "0.2450"\n', ""))
    bare = (
        '[tariffs]\n[[tariffs.contracts]]\nkind = "time-of-use"\nfrom = 2024-01-01\n'
        'currency = "EUR"\n'
    )
    with pytest.raises(ConfigError, match="list of windows"):
        tariffs_of(bare)


def test_dynamic_tariff_names_its_price_series() -> None:
    text = (
        '[tariffs]\n[[tariffs.contracts]]\nname = "spot"\nkind = "dynamic"\nfrom = 2024-01-01\n'
        'currency = "EUR"\nprices = "energyzero"\nmarkup_per_kwh = "0.02"\n'
    )
    (spot,) = parse_tariffs(tomllib.loads(text)["tariffs"]).contracts
    assert spot.prices == "energyzero" and spot.import_micro == 20_000


def test_load_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert load_tariffs(path) is None
    path.write_text('hub_serial = "12345678"\n' + CONFIG, encoding="utf-8")
    loaded = load_tariffs(path)
    assert loaded is not None and len(loaded.contracts) == 2
    path.write_text("tariffs = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="should be a table"):
        load_tariffs(path)


def test_the_table_and_its_entries_must_be_tables() -> None:
    with pytest.raises(ConfigError, match="array of"):
        parse_tariffs({"contracts": {"name": "x"}})
    with pytest.raises(ConfigError, match="should be a table"):
        parse_tariffs({"contracts": ["fixed"]})
    bad_window = CONFIG.replace('{ name = "T1", days = "all"', '"T1", { name = "T1x", days = "all"')
    with pytest.raises(ConfigError, match="window #1 should be a table"):
        tariffs_of(bad_window)


def test_weekday_lists_and_midnight_as_24_00() -> None:
    text = CONFIG.replace(
        'days = "weekend", start = "10:00", end = "16:00"',
        'days = ["mon", "wed"], start = "22:00", end = "24:00"',
    )
    go = parse_tariffs(tomllib.loads(text)["tariffs"]).contracts[1]
    assert go.import_at(0, 23 * 60 + 59) == 200_000
    assert go.import_at(1, 23 * 60) == 300_000  # Tuesday is not listed
    assert go.import_at(2, 0) == 300_000  # the window ends at midnight
