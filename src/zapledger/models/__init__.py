"""Typed values decoded from the myenergi wire format.

Pure functions and data: no I/O. Everything here raises only :class:`BadResponseError` on input it
cannot decode; unknown enum values and unknown keys are kept, never fatal. Inside, energy is integer
joules and time is aware UTC; kWh and local time belong to the edges (reports, CLI).

The enums (:class:`Period`, :class:`Resolution`, …) load eagerly and import nothing but ``enum``;
everything else is imported on first use, so the CLI can offer the enums as choices without
loading msgspec (``zapledger --help`` stays fast).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._enums import (
    ChargeMode,
    ChartKind,
    DsmrVersion,
    ExportFormat,
    ExportResolution,
    MeterFileFormat,
    Period,
    PhaseSetting,
    Resolution,
)

if TYPE_CHECKING:
    from ._decode import (
        decode_any,
    )
    from ._energy import (
        ENERGY_FIELDS,
        Energy,
        EnergyBucket,
    )
    from ._history import (
        Gap,
        History,
        HistoryRecord,
        build_history,
        decode_history,
        find_gaps,
        parse_history,
    )
    from ._price import PricePoint
    from ._records import (
        Device,
        MeterReading,
        StatusSnapshot,
    )
    from ._status import (
        ChargeStatus,
        CommandState,
        CtClamp,
        DeviceStatus,
        LockFlags,
        PlugStatus,
        SiteStatus,
        SmartBoost,
        ZappiMode,
        ZappiStatus,
        decode_status,
        decode_zappi,
        parse_status,
        parse_zappi,
    )
    from ._wire import (
        FREQUENCY_PLAUSIBLE_HZ,
        J_PER_KWH,
        MAX_JSON_BYTES,
        MAX_JSON_DEPTH,
        VOLTAGE_PLAUSIBLE_V,
        decode_json,
        joules_to_kwh,
        read_limited,
    )

_LAZY = {
    "PricePoint": "_price",
    "Gap": "_history",
    "History": "_history",
    "HistoryRecord": "_history",
    "build_history": "_history",
    "decode_history": "_history",
    "find_gaps": "_history",
    "parse_history": "_history",
    "ChargeStatus": "_status",
    "CommandState": "_status",
    "CtClamp": "_status",
    "DeviceStatus": "_status",
    "LockFlags": "_status",
    "PlugStatus": "_status",
    "SiteStatus": "_status",
    "SmartBoost": "_status",
    "ZappiMode": "_status",
    "ZappiStatus": "_status",
    "decode_status": "_status",
    "decode_zappi": "_status",
    "parse_status": "_status",
    "parse_zappi": "_status",
    "FREQUENCY_PLAUSIBLE_HZ": "_wire",
    "J_PER_KWH": "_wire",
    "VOLTAGE_PLAUSIBLE_V": "_wire",
    "decode_json": "_wire",
    "joules_to_kwh": "_wire",
    "MAX_JSON_BYTES": "_wire",
    "MAX_JSON_DEPTH": "_wire",
    "read_limited": "_wire",
    "ENERGY_FIELDS": "_energy",
    "Energy": "_energy",
    "EnergyBucket": "_energy",
    "Device": "_records",
    "MeterReading": "_records",
    "StatusSnapshot": "_records",
    "decode_any": "_decode",
}

__all__ = [
    "ENERGY_FIELDS",
    "FREQUENCY_PLAUSIBLE_HZ",
    "J_PER_KWH",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "VOLTAGE_PLAUSIBLE_V",
    "ChargeMode",
    "ChargeStatus",
    "ChartKind",
    "CommandState",
    "CtClamp",
    "Device",
    "DeviceStatus",
    "DsmrVersion",
    "Energy",
    "EnergyBucket",
    "ExportFormat",
    "ExportResolution",
    "Gap",
    "History",
    "HistoryRecord",
    "LockFlags",
    "MeterFileFormat",
    "MeterReading",
    "Period",
    "PhaseSetting",
    "PlugStatus",
    "PricePoint",
    "Resolution",
    "SiteStatus",
    "SmartBoost",
    "StatusSnapshot",
    "ZappiMode",
    "ZappiStatus",
    "build_history",
    "decode_any",
    "decode_history",
    "decode_json",
    "decode_status",
    "decode_zappi",
    "find_gaps",
    "joules_to_kwh",
    "parse_history",
    "parse_status",
    "parse_zappi",
    "read_limited",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
