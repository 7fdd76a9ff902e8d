"""Household meter data that matches the simulated household: P1 telegram captures and CSV.

The simulator's household knows the true energy of every minute. A real meter measures that
truth with a calibration error that may drift, and its logger misses stretches of time; this
module writes what such a meter would have sent, in the wire formats themselves (DSMR 2.2 and 5
telegrams, the CSV of ``zapledger meter import``), so reconciliation can be tested against a
known truth. Like the rest of the simulator it imports neither ``zapledger.models`` nor
``zapledger.client``.

Meter error at time t, in percent: ``calibration_pct + drift_pct_per_month * months since start``
(a month is :data:`MONTH_S`); energy through the meter is the true energy times ``1 + error/100``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "DSMR_TZ",
    "MONTH_S",
    "MeterModel",
    "MeterSample",
    "TruthSource",
    "crc16",
    "dsmr5_telegram",
    "dsmr22_telegram",
    "samples",
    "write_csv",
    "write_demo_meter_data",
    "write_dsmr5",
    "write_dsmr22",
]

#: Length of the "month" of the drift: a mean Gregorian month.
MONTH_S = 30.4375 * 86400
#: DSMR meters keep Dutch local time; the telegram's S/W flag tells summer from winter.
DSMR_TZ = "Europe/Amsterdam"
J_PER_KWH = 3_600_000

#: Which household wire energies each meter kind measures.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "import": ("imp",),
    "export": ("exp",),
    "pv": ("gep",),
    "ev": ("h1d", "h1b", "h2d", "h2b", "h3d", "h3b"),
}
_CHANNELS = ("import_t1", "import_t2", "export_t1", "export_t2", "pv", "ev")


class TruthSource(Protocol):
    """What meterdata needs of the simulator's household: the true energies of one UTC minute."""

    def minute(self, ts: datetime, /) -> Mapping[str, int]: ...


def _per_kind(value: float | Mapping[str, float], kind: str) -> float:
    if isinstance(value, Mapping):
        return float(value.get(kind, value.get("*", 0.0)))
    return float(value)


@dataclass(frozen=True)
class MeterModel:
    """How the simulated meter differs from the truth, and what it is called.

    ``calibration_pct``/``drift_pct_per_month`` are one number for every channel or a mapping
    by kind (``import``, ``export``, ``pv``, ``ev``, ``*`` for the rest). ``gaps`` are UTC spans
    in which no reading is written (the meter keeps counting). ``replace_at`` swaps the meter:
    from then on ``replacement_id`` counts from zero.
    """

    meter_id: str = "SIM4530000001"
    calibration_pct: float | Mapping[str, float] = 0.0
    drift_pct_per_month: float | Mapping[str, float] = 0.0
    gaps: tuple[tuple[datetime, datetime], ...] = ()
    initial_kwh: Mapping[str, float] = field(
        default_factory=lambda: {
            "import_t1": 10234.567,
            "import_t2": 8456.789,
            "export_t1": 1234.5,
            "export_t2": 2345.25,
            "pv": 5678.125,
            "ev": 3456.0,
        }
    )
    replace_at: datetime | None = None
    replacement_id: str = "SIM4530000002"
    tariff_tz: str = DSMR_TZ

    def error_pct(self, kind: str, elapsed_s: float) -> float:
        return _per_kind(self.calibration_pct, kind) + _per_kind(self.drift_pct_per_month, kind) * (
            elapsed_s / MONTH_S
        )

    def in_gap(self, ts: datetime) -> bool:
        return any(a <= ts < b for a, b in self.gaps)


@dataclass(frozen=True, slots=True)
class MeterSample:
    """What the meter shows at ``ts``: totals per channel (J, float) and the minute's power (W)."""

    ts: datetime
    meter_id: str
    totals_j: Mapping[str, float]
    import_w: float
    export_w: float
    tariff: int  # 1 low (nights, weekends), 2 normal


def _tariff(ts: datetime, zone: ZoneInfo) -> int:
    local = ts.astimezone(zone)
    return 1 if local.weekday() >= 5 or local.hour >= 23 or local.hour < 7 else 2


def samples(
    household: TruthSource,
    start: datetime,
    end: datetime,
    *,
    interval_s: int = 10,
    offset_s: int = 0,
    model: MeterModel | None = None,
) -> Iterator[MeterSample]:
    """The meter's state every ``interval_s`` from ``start + offset_s`` to before ``end`` (UTC).

    Within a minute the household's power is taken as constant, so totals between minute
    boundaries are linear. Samples inside ``model.gaps`` are left out.
    """
    model = model or MeterModel()
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("samples needs aware datetimes")
    zone = ZoneInfo(model.tariff_tz)
    totals = {ch: model.initial_kwh.get(ch, 0.0) * J_PER_KWH for ch in _CHANNELS}
    meter_id = model.meter_id
    swapped = False
    step = timedelta(seconds=interval_s)
    at = start + timedelta(seconds=offset_s)
    minute = start.replace(second=0, microsecond=0)
    while at < end:
        energies = household.minute(minute)
        elapsed = (minute - start).total_seconds() + 30
        tariff = _tariff(minute, zone)
        per_min = {
            kind: sum(energies.get(k, 0) for k in keys) * (1 + model.error_pct(kind, elapsed) / 100)
            for kind, keys in _KIND_KEYS.items()
        }
        rates = {
            f"import_t{tariff}": per_min["import"],
            f"export_t{tariff}": per_min["export"],
            "pv": per_min["pv"],
            "ev": per_min["ev"],
        }
        next_minute = minute + timedelta(minutes=1)
        base = minute  # the time `totals` holds for
        swap = model.replace_at if model.replace_at is not None and not swapped else None
        while at < next_minute and at < end:
            if swap is not None and swap <= at:
                totals, base, meter_id, swapped, swap = _swap(model, swap)
            frac = (at - base).total_seconds() / 60
            if not model.in_gap(at):
                yield MeterSample(
                    ts=at,
                    meter_id=meter_id,
                    totals_j={ch: totals[ch] + rates.get(ch, 0.0) * frac for ch in _CHANNELS},
                    import_w=per_min["import"] / 60,
                    export_w=per_min["export"] / 60,
                    tariff=tariff,
                )
            at += step
        if swap is not None and swap < next_minute:
            totals, base, meter_id, swapped, swap = _swap(model, swap)
        frac = (next_minute - base).total_seconds() / 60
        for ch, rate in rates.items():
            totals[ch] += rate * frac
        minute = next_minute


def _swap(model: MeterModel, at: datetime) -> tuple[dict[str, float], datetime, str, bool, None]:
    """The meter is replaced at ``at``: the new one counts from zero."""
    return dict.fromkeys(_CHANNELS, 0.0), at, model.replacement_id, True, None


# --- the wire formats -----------------------------------------------------------------------


def crc16(text: str) -> int:
    """CRC-16/ARC (IBM, reflected polynomial 0xA001, initial value 0) of a telegram.

    DSMR 4/5 put it after the ``!``, over everything from the ``/`` up to and including the ``!``.
    """
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _kwh(total_j: float, width: int) -> str:
    """A totaliser as the meter prints it: whole Wh (the meter rounds down), 3 decimals."""
    wh = math.floor(total_j / 3600 + 1e-9)
    return f"{wh // 1000:0{width}d}.{wh % 1000:03d}"


def _hex_id(meter_id: str) -> str:
    return meter_id.encode("ascii").hex().upper()


def dsmr5_telegram(sample: MeterSample) -> str:
    """A DSMR 5.0 telegram (meter time with S/W flag, CRC16) of one sample."""
    local = sample.ts.astimezone(ZoneInfo(DSMR_TZ))
    flag = "S" if local.dst() else "W"
    t = sample.totals_j
    body = (
        "/ISk5\\2MT382-1000\r\n"
        "\r\n"
        "1-3:0.2.8(50)\r\n"
        f"0-0:1.0.0({local:%y%m%d%H%M%S}{flag})\r\n"
        f"0-0:96.1.1({_hex_id(sample.meter_id)})\r\n"
        f"1-0:1.8.1({_kwh(t['import_t1'], 6)}*kWh)\r\n"
        f"1-0:1.8.2({_kwh(t['import_t2'], 6)}*kWh)\r\n"
        f"1-0:2.8.1({_kwh(t['export_t1'], 6)}*kWh)\r\n"
        f"1-0:2.8.2({_kwh(t['export_t2'], 6)}*kWh)\r\n"
        f"0-0:96.14.0({sample.tariff:04d})\r\n"
        f"1-0:1.7.0({sample.import_w / 1000:06.3f}*kW)\r\n"
        f"1-0:2.7.0({sample.export_w / 1000:06.3f}*kW)\r\n"
        "0-0:96.7.21(00004)\r\n"
        "0-0:96.7.9(00002)\r\n"
        "1-0:99.97.0(0)(0-0:96.7.19)\r\n"
        "1-0:32.32.0(00000)\r\n"
        "1-0:32.36.0(00000)\r\n"
        "0-0:96.13.0()\r\n"
        "1-0:32.7.0(230.1*V)\r\n"
        f"1-0:31.7.0({round(max(sample.import_w, sample.export_w) / 230):03d}*A)\r\n"
        f"1-0:21.7.0({sample.import_w / 1000:06.3f}*kW)\r\n"
        f"1-0:22.7.0({sample.export_w / 1000:06.3f}*kW)\r\n"
        "!"
    )
    return f"{body}{crc16(body):04X}\r\n"


def dsmr22_telegram(sample: MeterSample) -> str:
    """A DSMR 2.2 telegram as a Kamstrup 162/351/382 sends it: no time, no CRC."""
    t = sample.totals_j
    return (
        "/KMP5 KA6U001585575011\r\n"
        "\r\n"
        f"0-0:96.1.1({_hex_id(sample.meter_id)})\r\n"
        f"1-0:1.8.1({_kwh(t['import_t1'], 5)}*kWh)\r\n"
        f"1-0:1.8.2({_kwh(t['import_t2'], 5)}*kWh)\r\n"
        f"1-0:2.8.1({_kwh(t['export_t1'], 5)}*kWh)\r\n"
        f"1-0:2.8.2({_kwh(t['export_t2'], 5)}*kWh)\r\n"
        f"0-0:96.14.0({sample.tariff:04d})\r\n"
        f"1-0:1.7.0({sample.import_w / 1000:07.2f}*kW)\r\n"
        f"1-0:2.7.0({sample.export_w / 1000:07.2f}*kW)\r\n"
        "0-0:17.0.0(999*A)\r\n"
        "0-0:96.3.10(1)\r\n"
        "0-0:96.13.1()\r\n"
        "0-0:96.13.0()\r\n"
        "!\r\n"
    )


def _utc_iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _write_samples(
    path: str | Path,
    household: TruthSource,
    start: datetime,
    end: datetime,
    render: Callable[[MeterSample], str],
    *,
    interval_s: int,
    offset_s: int,
    model: MeterModel | None,
    header: str = "",
    encoding: str = "ascii",
) -> Path:
    """Write ``header`` and then one rendered text per meter sample of ``[start, end)``."""
    out = Path(path)
    with out.open("w", encoding=encoding, newline="") as fh:
        fh.write(header)
        for sample in samples(
            household, start, end, interval_s=interval_s, offset_s=offset_s, model=model
        ):
            fh.write(render(sample))
    return out


def write_dsmr5(
    path: str | Path,
    household: TruthSource,
    start: datetime,
    end: datetime,
    *,
    interval_s: int = 10,
    offset_s: int = 0,
    model: MeterModel | None = None,
) -> Path:
    """A capture file of DSMR 5 telegrams (they carry the meter time; no ``# received`` lines)."""
    return _write_samples(
        path, household, start, end, dsmr5_telegram,
        interval_s=interval_s, offset_s=offset_s, model=model,
    )  # fmt: skip


def write_dsmr22(
    path: str | Path,
    household: TruthSource,
    start: datetime,
    end: datetime,
    *,
    interval_s: int = 10,
    offset_s: int = 0,
    model: MeterModel | None = None,
    received_lines: bool = True,
) -> Path:
    """A capture file of DSMR 2.2 telegrams, each after a ``# received <UTC time>`` line.

    Without ``received_lines`` it is a plain capture: times then come from the importer's
    ``--start``/``--interval`` (gaps in ``model`` would shift them; use none then).
    """

    def render(sample: MeterSample) -> str:
        received = f"# received {_utc_iso(sample.ts)}\n" if received_lines else ""
        return received + dsmr22_telegram(sample)

    return _write_samples(
        path, household, start, end, render,
        interval_s=interval_s, offset_s=offset_s, model=model,
    )  # fmt: skip


def write_csv(
    path: str | Path,
    household: TruthSource,
    start: datetime,
    end: datetime,
    *,
    interval_s: int = 900,
    offset_s: int = 0,
    model: MeterModel | None = None,
    channels: tuple[str, ...] = _CHANNELS,
) -> Path:
    """A CSV file in the documented import format (UTC times), with the chosen channels."""
    unknown = set(channels) - set(_CHANNELS)
    if unknown:
        raise ValueError(f"unknown channels: {', '.join(sorted(unknown))}")

    def render(sample: MeterSample) -> str:
        cells = [_kwh(sample.totals_j[ch], 1) for ch in channels]
        return f"{_utc_iso(sample.ts)},{','.join(cells)},{sample.meter_id}\n"

    return _write_samples(
        path, household, start, end, render,
        interval_s=interval_s, offset_s=offset_s, model=model,
        header="timestamp," + ",".join(f"{ch}_kwh" for ch in channels) + ",meter_id\n",
        encoding="utf-8",
    )  # fmt: skip


#: The meter errors of the demo: the P1 meter reads import 1.5 % above the zappi, drifting
#: 0.2 % a month, export 0.8 % below; the PV meter +0.5 %, the EV meter exact.
DEMO_MODEL = MeterModel(
    calibration_pct={"import": 1.5, "export": -0.8, "pv": 0.5, "ev": 0.0},
    drift_pct_per_month={"import": 0.2},
)


def write_demo_meter_data(
    household: TruthSource, start: datetime, end: datetime, out_dir: str | Path
) -> dict[str, Path]:
    """Meter data of the demo period: the P1 meter as DSMR 5 and as DSMR 2.2, PV and EV as CSV.

    The two telegram files are the same meter (same equipment id), so importing both is
    harmless. One three-hour logger outage on the second day shows up as meter gaps.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    outage = start + timedelta(days=1, hours=10)
    model = MeterModel(
        calibration_pct=DEMO_MODEL.calibration_pct,
        drift_pct_per_month=DEMO_MODEL.drift_pct_per_month,
        gaps=((outage, outage + timedelta(hours=3)),),
    )
    return {
        "dsmr5": write_dsmr5(
            folder / "meter_p1_dsmr5.txt", household, start, end, interval_s=600, model=model
        ),
        "dsmr22": write_dsmr22(
            folder / "meter_p1_dsmr22.txt",
            household,
            start,
            end,
            interval_s=600,
            offset_s=300,
            model=model,
        ),
        "csv": write_csv(
            folder / "meter_pv_ev.csv",
            household,
            start,
            end,
            interval_s=900,
            model=MeterModel(meter_id="SIMPVEV", calibration_pct=DEMO_MODEL.calibration_pct),
            channels=("pv", "ev"),
        ),
    }
