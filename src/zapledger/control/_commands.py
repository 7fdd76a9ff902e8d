"""The commands a zappi takes, as checked values: building one checks every argument.

A command knows its path, the status fields that show it done (``expected``), and whether it
interrupts a charge. Nothing here touches the network: a :class:`CommandArgumentError` is raised
before anything could be sent. Ranges are the ones the cloud is known to accept.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import time
from typing import Any, ClassVar

from ..exceptions import BadResponseError, CommandArgumentError
from ..models import ChargeMode, PhaseSetting, ZappiStatus
from ._timers import BoostTimer

__all__ = [
    "LOCK_FLAGS",
    "ChargeMode",
    "Command",
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
    "phase_setting",
]

MAX_BOOST_KWH = 99
MAX_PRIORITY = 9


def _enum(kind: type[ChargeMode] | type[PhaseSetting], value: object, what: str) -> Any:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise CommandArgumentError(f"{what} is one of {choices}; got {value!r}") from None


def charge_mode(value: ChargeMode | str) -> ChargeMode:
    """``"fast" "eco" "eco+" "stop"`` (any case) as a :class:`ChargeMode`."""
    mode: ChargeMode = _enum(ChargeMode, value, "the charge mode")
    return mode


def phase_setting(value: PhaseSetting | str) -> PhaseSetting:
    """``"single" "three" "auto"`` (any case) as a :class:`PhaseSetting`."""
    phases: PhaseSetting = _enum(PhaseSetting, value, "the phase setting")
    return phases


def _whole(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandArgumentError(f"{what} is a whole number {low}..{high}, got {value!r}")
    return value


def check_serial(serial: str | int | None) -> str | None:
    """A zappi serial as the paths want it (digits; a leading ``Z`` is dropped), or None."""
    if serial is None:
        return None
    text = str(serial).strip()
    if text[:1] in ("Z", "z"):
        text = text[1:]
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise CommandArgumentError(f"a zappi serial is digits, got {serial!r}")
    return text


@dataclass(frozen=True)
class Command(ABC):
    """A checked command; ``path``/``expected`` are asked once the charger's status is known."""

    name: ClassVar[str]
    #: read back from the boost timer table instead of the status
    reads_boost_timers: ClassVar[bool] = False

    @property
    def interrupts_charge(self) -> bool:
        """True for commands that stop or pause a charge (the CLI asks first on a terminal)."""
        return False

    @abstractmethod
    def path(self, serial: str, before: ZappiStatus) -> str:
        """The path to send for ``serial``, whose status before the command is ``before``."""

    @abstractmethod
    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        """Status fields (wire names) and the values that show the command done."""

    @abstractmethod
    def describe(self) -> str:
        """The command in a few words, e.g. ``smart boost of 10 kWh by 07:30``."""

    def arguments(self) -> dict[str, Any]:
        """The arguments, JSON-ready."""
        return {key: _plain(value) for key, value in asdict(self).items()}

    def check_answer(self, answer: Mapping[str, Any], endpoint: str) -> None:
        """An accepted command answers ``{"status": 0, ...}``; anything else is a bad answer."""
        if "status" not in answer:
            raise BadResponseError(f"{endpoint}: command answer has no 'status'", endpoint=endpoint)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    return value


@dataclass(frozen=True)
class SetMode(Command):
    mode: ChargeMode
    name: ClassVar[str] = "mode"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _enum(ChargeMode, self.mode, "the charge mode"))

    @property
    def interrupts_charge(self) -> bool:
        return self.mode is ChargeMode.STOP

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-zappi-mode-Z{serial}-{self.mode.zmo}-0-0-0000"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"zmo": self.mode.zmo}

    def describe(self) -> str:
        return f"mode {self.mode.value}"


@dataclass(frozen=True)
class ManualBoost(Command):
    """Add ``energy_kwh`` from the grid now."""

    energy_kwh: int
    name: ClassVar[str] = "boost"

    def __post_init__(self) -> None:
        _whole(self.energy_kwh, 1, MAX_BOOST_KWH, "boost energy (kWh)")

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-zappi-mode-Z{serial}-0-10-{self.energy_kwh}-0000"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"bsm": 1, "tbk": self.energy_kwh}

    def describe(self) -> str:
        return f"boost of {self.energy_kwh} kWh"


@dataclass(frozen=True)
class SmartBoost(Command):
    """``energy_kwh`` ready by ``ready_by`` (the charger's clock, quarter hours)."""

    energy_kwh: int
    ready_by: time
    name: ClassVar[str] = "smart-boost"

    def __post_init__(self) -> None:
        _whole(self.energy_kwh, 1, MAX_BOOST_KWH, "boost energy (kWh)")
        by = self.ready_by
        if not isinstance(by, time) or by.tzinfo is not None:
            raise CommandArgumentError(f"ready-by is a time of day, got {by!r}")
        if by.minute % 15 or by.second or by.microsecond:
            raise CommandArgumentError(
                f"the charger takes quarter hours (HH:00/15/30/45), got {_plain(by)}"
            )

    def path(self, serial: str, before: ZappiStatus) -> str:
        hhmm = f"{self.ready_by.hour:02d}{self.ready_by.minute:02d}"
        return f"/cgi-zappi-mode-Z{serial}-0-11-{self.energy_kwh}-{hhmm}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        by = self.ready_by
        return {"bss": 1, "sbh": by.hour, "sbm": by.minute, "sbk": self.energy_kwh}

    def describe(self) -> str:
        return f"smart boost of {self.energy_kwh} kWh by {_plain(self.ready_by)}"


@dataclass(frozen=True)
class StopBoost(Command):
    """End a manual or smart boost (the path is mode ``0-2``, not the Stop mode)."""

    name: ClassVar[str] = "stop-boost"

    @property
    def interrupts_charge(self) -> bool:
        return True

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-zappi-mode-Z{serial}-0-2-0-0000"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"bsm": 0, "bss": 0}

    def describe(self) -> str:
        return "stop boost"


@dataclass(frozen=True)
class SetMinGreen(Command):
    """The minimum green level of Eco+ (1..100 %)."""

    level_pct: int
    name: ClassVar[str] = "min-green"

    def __post_init__(self) -> None:
        _whole(self.level_pct, 1, 100, "the minimum green level (%)")

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-set-min-green-Z{serial}-{self.level_pct}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"mgl": self.level_pct}

    def describe(self) -> str:
        return f"minimum green level {self.level_pct} %"

    def check_answer(self, answer: Mapping[str, Any], endpoint: str) -> None:
        """The cloud confirms with ``{"mgl": level}`` (or a plain status)."""
        if "status" in answer:
            return
        mgl = answer.get("mgl")
        if (
            isinstance(mgl, bool)
            or not isinstance(mgl, int | str)
            or str(mgl) != str(self.level_pct)
        ):
            raise BadResponseError(
                f"{endpoint}: answer confirms mgl {mgl!r}, not {self.level_pct}", endpoint=endpoint
            )


@dataclass(frozen=True)
class SetPriority(Command):
    """The zappi's priority among the hub's devices (1 first)."""

    priority: int
    name: ClassVar[str] = "priority"

    def __post_init__(self) -> None:
        _whole(self.priority, 1, MAX_PRIORITY, "the priority")

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-set-priority-Z{serial}-{self.priority}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"pri": self.priority}

    def describe(self) -> str:
        return f"priority {self.priority}"


@dataclass(frozen=True)
class SetPhases(Command):
    phases: PhaseSetting
    name: ClassVar[str] = "phases"

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", _enum(PhaseSetting, self.phases, "the phase setting"))

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-zappi-phase-setting-Z{serial}-{self.phases.wire}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"phaseSetting": self.phases.status_value}

    def describe(self) -> str:
        return f"phases {self.phases.value}"


#: The named bits of ``lck`` (bit 0 first).
LOCK_FLAGS = (
    "locked_now",
    "lock_when_plugged",
    "lock_when_unplugged",
    "lock_when_charging",
    "charge_session_allowed",
)


@dataclass(frozen=True)
class LockFlags:
    """Lock flags to change; None keeps the charger's current value."""

    locked_now: bool | None = None
    lock_when_plugged: bool | None = None
    lock_when_unplugged: bool | None = None
    lock_when_charging: bool | None = None
    charge_session_allowed: bool | None = None


@dataclass(frozen=True)
class SetLocks(Command):
    """Change lock flags; ``cgi-jlock-<serial>-<8 chars>`` carries all of ``lck``, so unnamed
    flags (and the three unnamed high bits) are sent as the charger has them now.

    The 8 characters are ``lck`` in binary, most significant bit first: ``00010010`` is
    "charge session allowed" + "lock when plugged".
    """

    flags: LockFlags
    name: ClassVar[str] = "lock"

    def __post_init__(self) -> None:
        if not isinstance(self.flags, LockFlags):
            raise CommandArgumentError(f"lock flags are LockFlags, got {self.flags!r}")
        values = [getattr(self.flags, f) for f in LOCK_FLAGS]
        if all(v is None for v in values):
            raise CommandArgumentError("name at least one lock flag to change")
        if any(v is not None and not isinstance(v, bool) for v in values):
            raise CommandArgumentError("lock flags are True, False or None")

    @property
    def interrupts_charge(self) -> bool:
        return self.flags.locked_now is True or self.flags.charge_session_allowed is False

    def lck(self, before: ZappiStatus) -> int:
        """The whole ``lck`` value to send, given the charger's current one."""
        changes = {f: getattr(self.flags, f) for f in LOCK_FLAGS}
        if before.locks is None and any(v is None for v in changes.values()):
            raise BadResponseError(
                f"zappi {before.serial} reports no lock state ('lck'): name every lock flag"
            )
        value = before.locks.raw if before.locks is not None else 0
        for bit, flag in enumerate(LOCK_FLAGS):
            wanted = changes[flag]
            if wanted is not None:
                value = value | (1 << bit) if wanted else value & ~(1 << bit)
        return value & 0xFF

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-jlock-{serial}-{self.lck(before):08b}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"lck": self.lck(before)}

    def describe(self) -> str:
        names = ", ".join(
            f"{k.replace('_', ' ')} {'on' if v else 'off'}" for k, v in self.arguments().items()
        )
        return f"lock flags: {names}"

    def arguments(self) -> dict[str, Any]:
        return {f: v for f in LOCK_FLAGS if (v := getattr(self.flags, f)) is not None}


@dataclass(frozen=True)
class SetBoostTimer(Command):
    """Write one boost timer slot (``BoostTimer.cleared(slot)`` switches it off)."""

    timer: BoostTimer
    name: ClassVar[str] = "boost-timer"
    reads_boost_timers: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.timer, BoostTimer):
            raise CommandArgumentError(f"a boost timer is a BoostTimer, got {self.timer!r}")
        self.timer.checked()

    def path(self, serial: str, before: ZappiStatus) -> str:
        return f"/cgi-boost-time-Z{serial}-{self.timer.wire()}"

    def expected(self, before: ZappiStatus) -> dict[str, Any]:
        return {"slt": self.timer.slot, **self.timer.fields()}

    def describe(self) -> str:
        t = self.timer.as_dict()
        if not self.timer.active:
            return f"clear boost timer {t['slot']}"
        days = ", ".join(t["days"])
        return f"boost timer {t['slot']}: {t['start']} for {t['duration']} on {days}"

    def arguments(self) -> dict[str, Any]:
        return self.timer.as_dict()

    def check_answer(self, answer: Mapping[str, Any], endpoint: str) -> None:
        """The answer is a status or the slot table."""
        if "status" not in answer and "boost_times" not in answer:
            raise BadResponseError(
                f"{endpoint}: answer has neither 'status' nor 'boost_times'", endpoint=endpoint
            )
