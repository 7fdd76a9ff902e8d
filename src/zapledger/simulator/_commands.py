"""The simulated zappis' command endpoints: parsing, device behaviour, faults and the device log.

A device executes a command asynchronously, as the real one does: the answer only says the cloud
accepted it. ``cmt`` then counts on the next status reads (1, 5, 9 … capped at 10; ``command_reads``
of them) and the asked settings change at the moment ``cmt`` shows 254, so a client that reads back
too early sees the old values. A failing command ends with ``cmt`` 253 and changes nothing.

Faults on demand (``force``) or at random (:class:`CommandFaults`, ``simulate --command-faults``):

``busy`` ``invalid`` ``unauthorised`` ``not-found``
            refused with status -26, -14, -12 or -13 (a string, as the real API sends it, unless
            forced ``numeric``);
``fail``    accepted, ``cmt`` counts and ends at 253, nothing changes;
``stall``   accepted, ``cmt`` counts to 10 and stays there: the command never completes;
``ignore``  accepted, ``cmt`` ends at 254 but nothing changes.

Every command that reaches a known zappi is written to the device log with what it asked for and,
once done, the exact changes (field -> (before, after)), so tests can check the effect.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

__all__ = [
    "COMMAND_FAULT_KINDS",
    "CommandDesk",
    "CommandFaults",
    "DeviceLogEntry",
    "error",
    "ok",
]

COMMAND_FAULT_KINDS: tuple[str, ...] = (
    "busy",
    "invalid",
    "unauthorised",
    "not-found",
    "fail",
    "stall",
    "ignore",
)
_REFUSALS = {"busy": -26, "invalid": -14, "unauthorised": -12, "not-found": -13}
#: spec key -> CommandFaults field (refusals that make sense at random, and the device outcomes)
_RATE_KEYS = {
    "busy": "p_busy",
    "invalid": "p_invalid",
    "fail": "p_fail",
    "stall": "p_stall",
    "ignore": "p_ignore",
}
PHASES = {0: "SINGLE_PHASE", 1: "THREE_PHASE", 2: "AUTO"}
BOOST_SLOTS = (11, 12, 13, 14)

_MODE = re.compile(r"^/cgi-zappi-mode-Z(\d+)(?:-(.*))?$")
_MODE_ARGS = re.compile(r"^(\d)-(\d{1,2})-(\d{1,3})-(\d{4})$")
_MIN_GREEN = re.compile(r"^/cgi-set-min-green-Z(\d+)(?:-(.*))?$")
_PRIORITY = re.compile(r"^/cgi-set-priority-Z(\d+)(?:-(.*))?$")
_PHASE = re.compile(r"^/cgi-zappi-phase-setting-Z(\d+)(?:-(.*))?$")
_BOOST_TIME = re.compile(r"^/cgi-boost-time-Z(\d+)(?:-(.*))?$")
_BOOST_ARGS = re.compile(r"^(\d{2})-(\d{4})-(\d{3,4})-([01]{8})$")
_LOCK = re.compile(r"^/cgi-jlock-(Z?)(\d+)(?:-(.*))?$")


def ok(**extra: Any) -> dict[str, Any]:
    return {"status": 0, "statustext": "", **extra}


def error(code: int, *, numeric: bool = False) -> dict[str, Any]:
    """Errors carry their status as a string, as the real API does (``numeric``: as a number)."""
    return {"status": code if numeric else str(code), "statustext": ""}


@dataclass(frozen=True)
class CommandFaults:
    """Per-command probabilities of a device fault; ``CommandFaults()`` injects nothing."""

    p_busy: float = 0.0
    p_invalid: float = 0.0
    p_fail: float = 0.0
    p_stall: float = 0.0
    p_ignore: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"command fault {f.name}={value} is not within 0..1")
        if sum(self.rates().values()) > 1.0 + 1e-9:
            raise ValueError("command fault probabilities add up to more than 1")

    def rates(self) -> dict[str, float]:
        return {key: float(getattr(self, name)) for key, name in _RATE_KEYS.items()}

    @classmethod
    def parse(cls, spec: str | None) -> CommandFaults:
        """Parse ``"busy=0.1,invalid=0.05,fail=0.05,stall=0.01,ignore=0.01"`` (``""``: none)."""
        text = (spec or "").strip()
        if text.lower() in ("", "none", "off"):
            return cls()
        values: dict[str, float] = {}
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = (part.strip() for part in item.partition("="))
            if key not in _RATE_KEYS or not sep:
                known = ", ".join(_RATE_KEYS)
                raise ValueError(f"command fault {item!r} is not KEY=RATE with KEY one of {known}")
            if _RATE_KEYS[key] in values:
                raise ValueError(f"command fault {key!r} given twice in {text!r}")
            try:
                values[_RATE_KEYS[key]] = float(value)
            except ValueError:
                raise ValueError(f"command fault {key!r} has a bad rate {value!r}") from None
        return cls(**values)

    def spec(self) -> str:
        return ",".join(f"{k}={r:g}" for k, r in self.rates().items() if r) or "none"


@dataclass(frozen=True)
class DeviceLogEntry:
    """One command as the device saw it.

    ``outcome``: ``refused`` (answered with a negative status), ``pending`` (in flight),
    ``ok``, ``failed`` (cmt 253), ``stalled`` (never completed), ``ignored`` (cmt 254, no effect).
    ``requested`` and ``changes`` use the status field names (``zmo``, ``bsm``, ``mgl``,
    ``phaseSetting``, ``lck`` …; ``boost_time_<slot>`` for a boost timer slot).
    """

    seq: int
    at: datetime
    serial: str
    path: str
    command: str
    requested: Mapping[str, Any]
    answer: Mapping[str, Any]
    outcome: str
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Parsed:
    serial: str
    command: str
    requested: dict[str, Any]
    #: the answer on acceptance (None: the plain ``ok``)
    answer: dict[str, Any] | None = None
    #: refused before any fault is drawn (unknown serial, bad parameters)
    refusal: int | None = None


@dataclass
class _Flight:
    entry: int
    plan: str
    reads_left: int
    step: int = 0


def _valid_hhmm(text: str) -> tuple[int, int] | None:
    hh, mm = int(text[:2]), int(text[2:])
    if hh > 23 or mm % 15 or mm > 45:
        return None
    return hh, mm


def boost_table(slots: Mapping[int, tuple[int, int, int, int, str]]) -> dict[str, Any]:
    """The ``cgi-boost-time-Z`` answer for a slot table."""
    return {
        "boost_times": [
            {"bdd": bdd, "bdh": bdh, "bdm": bdm, "bsh": bsh, "bsm": bsm, "slt": slot}
            for slot, (bsh, bsm, bdh, bdm, bdd) in sorted(slots.items())
        ]
    }


def _parse_mode(serial: str, args: str | None) -> _Parsed:
    match = _MODE_ARGS.match(args or "")
    if not match:
        return _Parsed(serial, "mode", {}, refusal=-14)
    mode, cmd, kwh, hhmm = (int(g) for g in match.groups())
    if mode != 0:
        if mode > 4 or cmd != 0 or kwh != 0 or hhmm != 0:
            return _Parsed(serial, "mode", {}, refusal=-14)
        return _Parsed(serial, "mode", {"zmo": mode})
    if cmd == 10 and 1 <= kwh <= 99 and hhmm == 0:
        return _Parsed(serial, "boost", {"bsm": 1, "bss": 0, "tbk": kwh})
    if cmd == 11 and 1 <= kwh <= 99:
        at = _valid_hhmm(match.group(4))
        if at is not None:
            return _Parsed(
                serial, "smart-boost", {"bss": 1, "bsm": 0, "sbh": at[0], "sbm": at[1], "sbk": kwh}
            )
    if cmd == 2 and kwh == 0 and hhmm == 0:
        return _Parsed(serial, "stop-boost", {"bsm": 0, "bss": 0})
    return _Parsed(serial, "mode", {}, refusal=-14)


def _parse_number(
    serial: str, args: str | None, name: str, key: str, valid: Callable[[int], Any]
) -> _Parsed:
    if not args or not args.isascii() or not args.isdigit() or valid(int(args)) is None:
        return _Parsed(serial, name, {}, refusal=-14)
    return _Parsed(serial, name, {key: valid(int(args))})


def _parse_boost_time(
    serial: str, args: str | None, table: Mapping[int, tuple[int, int, int, int, str]]
) -> _Parsed:
    if args is None:
        return _Parsed(serial, "boost-time-read", {}, answer=boost_table(table))
    match = _BOOST_ARGS.match(args)
    if match:
        slot = int(match.group(1))
        start = _valid_hhmm(match.group(2))
        length = _valid_hhmm(match.group(3).zfill(4))
        if slot in BOOST_SLOTS and start is not None and length is not None and length[0] <= 8:
            value = (*start, *length, match.group(4))
            answer = boost_table({**table, slot: value})
            return _Parsed(serial, "boost-time", {f"boost_time_{slot}": value}, answer=answer)
    return _Parsed(serial, "boost-time", {}, refusal=-14)


class CommandDesk:
    """Command handling for every zappi of a hub; the caller holds the devices' lock.

    ``values[serial]`` is a device's settings as a dict of status field names (plus
    ``boost_time_<slot>`` entries); :meth:`handle` and :meth:`tick` change it in place.
    """

    def __init__(self, serials: tuple[str, ...], seed: int, command_reads: int) -> None:
        self.serials = serials
        self.command_reads = command_reads
        self.faults = CommandFaults()
        self._rng = random.Random(f"{seed}:commands")
        self._forced: list[tuple[str, bool]] = []
        self._flights: dict[str, _Flight] = {}
        self._log: list[DeviceLogEntry] = []
        self._seq = 0

    # -- faults and log ----------------------------------------------------------------------

    def force(self, kind: str, count: int = 1, *, numeric: bool = False) -> None:
        if kind not in COMMAND_FAULT_KINDS:
            raise ValueError(
                f"unknown command fault {kind!r}; known: {', '.join(COMMAND_FAULT_KINDS)}"
            )
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        self._forced.extend([(kind, numeric)] * count)

    def log(self) -> tuple[DeviceLogEntry, ...]:
        return tuple(self._log)

    def reset(self) -> None:
        """Forget the log, commands in flight and forced faults (random rates stay)."""
        self._log.clear()
        self._flights.clear()
        self._forced.clear()

    def _draw(self) -> tuple[str | None, bool]:
        if self._forced:
            return self._forced.pop(0)
        rates = self.faults.rates()
        if not any(rates.values()):
            return None, False
        u = self._rng.random()
        for kind, rate in rates.items():
            if u < rate:
                return kind, False
            u -= rate
        return None, False

    # -- commands ----------------------------------------------------------------------------

    def parse(self, path: str, values: Mapping[str, dict[str, Any]]) -> _Parsed | None:
        """What a path asks for; None when it is no command endpoint."""
        match = _LOCK.match(path)
        if match:
            serial = match.group(2)
            if match.group(1) or serial not in values:
                return _Parsed(serial, "lock", {}, refusal=-13)
            bits = match.group(3) or ""
            if len(bits) != 8 or set(bits) - {"0", "1"}:
                return _Parsed(serial, "lock", {}, refusal=-14)
            return _Parsed(serial, "lock", {"lck": int(bits, 2)})
        for pattern in (_MODE, _MIN_GREEN, _PRIORITY, _PHASE, _BOOST_TIME):
            match = pattern.match(path)
            if match is None:
                continue
            serial, args = match.group(1), match.group(2)
            if serial not in values:
                return _Parsed(serial, "unknown", {}, refusal=-13)
            if pattern is _MODE:
                return _parse_mode(serial, args)
            if pattern is _MIN_GREEN:
                parsed = _parse_number(
                    serial, args, "min-green", "mgl", lambda n: n if 1 <= n <= 100 else None
                )
                mgl = parsed.requested.get("mgl")
                return parsed if mgl is None else replace(parsed, answer={"mgl": mgl})
            if pattern is _PRIORITY:
                return _parse_number(
                    serial, args, "priority", "pri", lambda n: n if 1 <= n <= 9 else None
                )
            if pattern is _PHASE:
                return _parse_number(serial, args, "phase", "phaseSetting", PHASES.get)
            table = {s: values[serial][f"boost_time_{s}"] for s in BOOST_SLOTS}
            return _parse_boost_time(serial, args, table)
        return None

    def handle(
        self, path: str, now: datetime, asn: str, values: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The answer to a command path; None when the path is not a command at all."""
        parsed = self.parse(path, values)
        if parsed is None:
            return None
        if parsed.command == "boost-time-read":
            assert parsed.answer is not None
            return parsed.answer
        if parsed.refusal is not None:
            answer = error(parsed.refusal)
            if parsed.serial in values:
                self._record(parsed, path, now, answer, "refused")
            return answer
        kind, numeric = self._draw()
        if kind in _REFUSALS:
            answer = error(_REFUSALS[kind], numeric=numeric)
            self._record(parsed, path, now, answer, "refused")
            return answer
        if parsed.answer is not None:
            answer = parsed.answer
        elif parsed.command in ("mode", "boost", "smart-boost", "stop-boost"):
            answer = ok(asn=asn)
        else:
            answer = ok()
        self._finish(parsed.serial, values[parsed.serial])
        plan = kind or "ok"
        entry = self._record(parsed, path, now, answer, "stalled" if plan == "stall" else "pending")
        flight = _Flight(entry, plan, self.command_reads)
        self._flights[parsed.serial] = flight
        values[parsed.serial]["cmt"] = 1
        if self.command_reads == 0 and plan != "stall":
            self._complete(flight, values[parsed.serial])
        return answer

    def _record(
        self, parsed: _Parsed, path: str, now: datetime, answer: dict[str, Any], outcome: str
    ) -> int:
        self._seq += 1
        p = parsed
        self._log.append(
            DeviceLogEntry(self._seq, now, p.serial, path, p.command, p.requested, answer, outcome)
        )
        return len(self._log) - 1

    # -- execution ---------------------------------------------------------------------------

    def tick(self, serial: str, values: dict[str, Any]) -> int:
        """A status read of ``serial``: advance its command in flight; the ``cmt`` to show."""
        flight = self._flights.get(serial)
        if flight is None:
            return int(values["cmt"])
        cmt = min(10, 1 + 4 * flight.step)
        flight.step += 1
        if flight.plan != "stall":
            flight.reads_left -= 1
            if flight.reads_left <= 0:
                self._complete(flight, values)
        return cmt

    def _finish(self, serial: str, values: dict[str, Any]) -> None:
        """A new command arrives: the one still in flight completes now (a stalled one never)."""
        flight = self._flights.pop(serial, None)
        if flight is not None and flight.plan != "stall":
            self._complete(flight, values)

    def _complete(self, flight: _Flight, values: dict[str, Any]) -> None:
        entry = self._log[flight.entry]
        self._flights.pop(entry.serial, None)
        if flight.plan == "fail":
            values["cmt"] = 253
            self._log[flight.entry] = replace(entry, outcome="failed")
            return
        values["cmt"] = 254
        if flight.plan == "ignore":
            self._log[flight.entry] = replace(entry, outcome="ignored")
            return
        changes = {
            key: (values.get(key), value)
            for key, value in entry.requested.items()
            if values.get(key) != value
        }
        values.update(entry.requested)
        self._log[flight.entry] = replace(entry, outcome="ok", changes=changes)
