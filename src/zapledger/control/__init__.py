"""Control of the charger: the only path from a wish to a command, and back to its effect.

Build a command (its arguments are checked right there, nothing is sent on bad input), hand it to
a :class:`Controller` over a :class:`~zapledger.client.Client`; the controller checks the serial
against the hub's zappis, sends, decodes the answer (a refusal is a
:class:`~zapledger.exceptions.CommandError` with code and meaning) and waits until the status shows
the command done with the changed fields as asked::

    async with Client(hub, key) as client:
        result = await Controller(client).smart_boost(10, "07:30")
        print(result.as_dict())

The CLI and (later) the MQTT bridge both go through here.
"""

from __future__ import annotations

from ._commands import (
    LOCK_FLAGS,
    ChargeMode,
    Command,
    LockFlags,
    ManualBoost,
    PhaseSetting,
    SetBoostTimer,
    SetLocks,
    SetMinGreen,
    SetMode,
    SetPhases,
    SetPriority,
    SmartBoost,
    StopBoost,
    charge_mode,
    check_serial,
    phase_setting,
)
from ._controller import BoostTimers, CommandResult, Controller
from ._timers import (
    BOOST_SLOTS,
    DAY_NAMES,
    MAX_BOOST_DURATION,
    BoostTimer,
    decode_boost_timers,
    parse_days,
    parse_duration,
    parse_hhmm,
)

__all__ = [
    "BOOST_SLOTS",
    "DAY_NAMES",
    "LOCK_FLAGS",
    "MAX_BOOST_DURATION",
    "BoostTimer",
    "BoostTimers",
    "ChargeMode",
    "Command",
    "CommandResult",
    "Controller",
    "LockFlags",
    "ManualBoost",
    "PhaseSetting",
    "SetBoostTimer",
    "SetLocks",
    "SetMinGreen",
    "SetMode",
    "SetPhases",
    "SetPriority",
    "SmartBoost",
    "StopBoost",
    "charge_mode",
    "check_serial",
    "decode_boost_timers",
    "parse_days",
    "parse_duration",
    "parse_hhmm",
    "phase_setting",
]
