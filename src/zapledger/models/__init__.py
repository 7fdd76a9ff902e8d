"""Typed values decoded from the myenergi wire format.

Pure functions and data: no I/O. Everything here raises only :class:`BadResponseError` on input it
cannot decode; unknown enum values and unknown keys are kept, never fatal. Inside, energy is integer
joules and time is aware UTC; kWh and local time belong to the edges (reports, CLI).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import BadResponseError
from ._history import (
    Gap,
    History,
    HistoryRecord,
    Resolution,
    build_history,
    decode_history,
    find_gaps,
    parse_history,
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
    VOLTAGE_PLAUSIBLE_V,
    decode_json,
    joules_to_kwh,
)

__all__ = [
    "FREQUENCY_PLAUSIBLE_HZ",
    "J_PER_KWH",
    "VOLTAGE_PLAUSIBLE_V",
    "ChargeStatus",
    "CommandState",
    "CtClamp",
    "DeviceStatus",
    "Gap",
    "History",
    "HistoryRecord",
    "LockFlags",
    "PlugStatus",
    "Resolution",
    "SiteStatus",
    "SmartBoost",
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
]


def decode_any(data: bytes | str, *, name: str = "payload") -> SiteStatus | History:
    """Decode a saved jstatus / jday / jdayhour payload, recognising which it is.

    The file name decides when it says ``jdayhour`` or ``jday``; otherwise a history whose records
    carry minutes (or more than 25 records) is per-minute, else per-hour.
    """
    payload = decode_json(data, endpoint=name)
    is_history = (
        isinstance(payload, Mapping) and len(payload) == 1 and next(iter(payload)).startswith("U")
    )
    if not is_history:
        return parse_status(payload)
    if "jdayhour" in name:
        resolution = Resolution.HOUR
    elif "jday" in name:
        resolution = Resolution.MINUTE
    else:
        records = next(iter(payload.values()))
        per_minute = isinstance(records, list) and (
            len(records) > 25 or any(isinstance(r, Mapping) and r.get("min") for r in records)
        )
        resolution = Resolution.MINUTE if per_minute else Resolution.HOUR
    try:
        return parse_history(payload, resolution)
    except BadResponseError as exc:
        raise BadResponseError(f"{name}: {exc}", endpoint=name) from None
