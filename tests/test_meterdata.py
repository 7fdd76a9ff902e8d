"""The simulator's meter data: wire formats that the importers read back, with known errors."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from zapledger.meters import import_csv, import_dsmr_file
from zapledger.models import MeterReading
from zapledger.simulator import Household, QuirkRates
from zapledger.simulator.meterdata import (
    MONTH_S,
    MeterModel,
    crc16,
    dsmr5_telegram,
    dsmr22_telegram,
    samples,
    write_csv,
    write_demo_meter_data,
    write_dsmr5,
    write_dsmr22,
)

T0 = datetime(2026, 1, 15, tzinfo=UTC)  # a Thursday
J_PER_KWH = 3_600_000


class Steady:
    """A household drawing 1.2 kW from the grid, 0.6 kW of PV, charging the car at 3 kW."""

    def minute(self, ts: datetime, /) -> Mapping[str, int]:
        return {"imp": 72_000, "exp": 0, "gep": 36_000, "h1d": 100_000, "h1b": 80_000}


def test_crc16_is_the_one_dsmr_parser_checks() -> None:
    for text in ("", "/", "/ISk5\\2MT382-1000\r\n\r\n!", "123456789"):
        assert crc16(text) == TelegramParser.crc16(text)
    assert crc16("123456789") == 0xBB3D  # the CRC-16/ARC check value


def test_telegrams_parse_with_dsmr_parser() -> None:
    sample = next(samples(Steady(), T0, T0 + timedelta(minutes=1)))
    v5 = TelegramParser(telegram_specifications.V5).parse(dsmr5_telegram(sample), throw_ex=True)
    assert v5.P1_MESSAGE_TIMESTAMP.value == T0
    assert float(v5.ELECTRICITY_USED_TARIFF_1.value) == pytest.approx(10234.567)
    v22 = TelegramParser(telegram_specifications.V2_2).parse(dsmr22_telegram(sample), throw_ex=True)
    assert float(v22.ELECTRICITY_DELIVERED_TARIFF_2.value) == pytest.approx(2345.25)


def test_calibration_error_scales_every_channel() -> None:
    model = MeterModel(calibration_pct={"import": 2.0, "*": -1.0})
    first, *_, last = samples(
        Steady(), T0, T0 + timedelta(hours=1, seconds=1), interval_s=600, model=model
    )
    assert (last.ts - first.ts) == timedelta(hours=1)
    delta = {ch: last.totals_j[ch] - first.totals_j[ch] for ch in first.totals_j}
    # Thursday 00:00-01:00 in Amsterdam is low tariff (T1)
    assert delta["import_t1"] == pytest.approx(72_000 * 60 * 1.02)
    assert delta["import_t2"] == 0
    assert delta["pv"] == pytest.approx(36_000 * 60 * 0.99)
    assert delta["ev"] == pytest.approx(180_000 * 60 * 0.99)
    assert first.tariff == 1


def test_drift_grows_with_time() -> None:
    model = MeterModel(drift_pct_per_month={"import": 3.0})
    assert model.error_pct("import", MONTH_S) == pytest.approx(3.0)
    assert model.error_pct("export", MONTH_S) == 0.0
    points = list(
        samples(Steady(), T0, T0 + timedelta(days=20, minutes=1), interval_s=86400, model=model)
    )
    day = [
        (b.totals_j["import_t1"] + b.totals_j["import_t2"])
        - (a.totals_j["import_t1"] + a.totals_j["import_t2"])
        for a, b in itertools.pairwise(points)
    ]
    rel = [d / (72_000 * 1440) - 1 for d in day]
    assert rel[0] == pytest.approx(3.0 / 100 * 0.5 / 30.4375, rel=0.01)
    assert rel[-1] == pytest.approx(3.0 / 100 * 19.5 / 30.4375, rel=0.01)


def test_gaps_and_a_replaced_meter() -> None:
    gap = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=40))
    swap = T0 + timedelta(minutes=50, seconds=30)
    model = MeterModel(gaps=(gap,), replace_at=swap)
    got = list(samples(Steady(), T0, T0 + timedelta(hours=1), interval_s=60, model=model))
    times = [s.ts for s in got]
    assert not any(gap[0] <= t < gap[1] for t in times)
    assert len(got) == 40
    before = [s for s in got if s.ts < swap]
    after = [s for s in got if s.ts >= swap]
    assert {s.meter_id for s in before} == {"SIM4530000001"}
    assert {s.meter_id for s in after} == {"SIM4530000002"}
    # the new meter counts from zero at the swap: 30 s of 1.2 kW by 51:00, 8.5 min by 59:00
    assert after[0].totals_j["import_t1"] == pytest.approx(72_000 / 2)
    assert after[-1].totals_j["import_t1"] == pytest.approx(72_000 * 8.5)
    # the same id reset to zero (a meter reset rather than a replacement)
    reset = MeterModel(replace_at=swap, replacement_id="SIM4530000001")
    ids = {s.meter_id for s in samples(Steady(), T0, T0 + timedelta(hours=1), model=reset)}
    assert ids == {"SIM4530000001"}


def test_a_swap_between_two_readings() -> None:
    swap = T0 + timedelta(minutes=10, seconds=30)
    model = MeterModel(replace_at=swap)
    got = list(samples(Steady(), T0, T0 + timedelta(minutes=30), interval_s=300, model=model))
    assert [s.meter_id[-1] for s in got] == ["1", "1", "1", "2", "2", "2"]
    assert got[3].totals_j["import_t1"] == pytest.approx(72_000 * 4.5)


def test_files_read_back_with_the_importers(tmp_path: Path) -> None:
    end = T0 + timedelta(hours=2)
    model = MeterModel(calibration_pct=1.0)
    d5 = write_dsmr5(tmp_path / "d5.txt", Steady(), T0, end, interval_s=300, model=model)
    d22 = write_dsmr22(tmp_path / "d22.txt", Steady(), T0, end, interval_s=300, model=model)
    plain = write_dsmr22(
        tmp_path / "p.txt", Steady(), T0, end, interval_s=300, received_lines=False
    )
    csv_file = write_csv(
        tmp_path / "m.csv", Steady(), T0, end, interval_s=900, channels=("pv", "ev")
    )
    results: dict[str, list[MeterReading]] = {}
    for name, path in (("d5", d5), ("d22", d22), ("plain", plain)):
        got: list[MeterReading] = []
        stats = import_dsmr_file(path, sink=got.extend, start=T0, interval=timedelta(minutes=5))
        assert (stats.units, stats.bad) == (24, 0), name
        results[name] = got
    d5_values = {(r.channel, r.timestamp): r.total_j for r in results["d5"]}
    d22_values = {(r.channel, r.timestamp): r.total_j for r in results["d22"]}
    assert d5_values == d22_values  # the same meter in two formats
    got = []
    stats = import_csv(csv_file, sink=got.extend)
    assert (stats.units, stats.bad) == (8, 0)
    assert {r.channel for r in got} == {"pv", "ev"}
    with pytest.raises(ValueError, match="unknown channels"):
        write_csv(tmp_path / "x.csv", Steady(), T0, end, channels=("gas",))
    with pytest.raises(ValueError, match="aware"):
        next(samples(Steady(), T0.replace(tzinfo=None), end))


def test_demo_meter_data_from_the_real_household(tmp_path: Path) -> None:
    household = Household(seed=7, quirk_rates=QuirkRates.none())
    start = datetime(2025, 6, 1, tzinfo=UTC)
    paths = write_demo_meter_data(household, start, start + timedelta(days=2), tmp_path / "demo")
    assert set(paths) == {"dsmr5", "dsmr22", "csv"}
    for path in paths.values():
        assert path.is_file()
    stats = import_dsmr_file(paths["dsmr5"])
    assert stats.bad == 0
    assert stats.units == 2 * 144 - 18  # every 10 min, less a 3-hour logger outage
    assert import_dsmr_file(paths["dsmr22"]).bad == 0
    assert import_csv(paths["csv"]).bad == 0


def test_meterdata_imports_neither_models_nor_client() -> None:
    code = (
        "import sys, zapledger.simulator.meterdata\n"
        "bad = [m for m in ('zapledger.models', 'zapledger.client') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
