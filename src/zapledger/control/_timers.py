"""Boost timers: the four weekly slots (11..14) a zappi boosts in, and their wire format.

The write path is ``cgi-boost-time-Z<serial>-<slot>-<HHMM start>-<HMM duration>-<8 day bits>``:
the first day bit is always 0, the next seven are Monday..Sunday. Times are the charger's local
clock. The read answer is ``{"boost_times": [{"slt", "bsh", "bsm", "bdh", "bdm", "bdd"}, ...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from ..exceptions import BadResponseError, CommandArgumentError

__all__ = [
    "BOOST_SLOTS",
    "DAY_NAMES",
    "MAX_BOOST_DURATION",
    "BoostTimer",
    "decode_boost_timers",
    "parse_days",
    "parse_duration",
    "parse_hhmm",
]

BOOST_SLOTS = (11, 12, 13, 14)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The longest slot the path can say as far as known (``HMM``, hours 0..8).
MAX_BOOST_DURATION = timedelta(hours=8, minutes=45)
_QUARTER = timedelta(minutes=15)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAY_GROUPS = {
    "all": DAY_NAMES,
    "daily": DAY_NAMES,
    "weekdays": DAY_NAMES[:5],
    "weekend": DAY_NAMES[5:],
    "none": (),
}


def parse_hhmm(text: str, what: str = "time") -> time:
    """``"07:30"`` -> 07:30; any HH:MM of the day (quarter hours are checked by the commands)."""
    match = _HHMM.match(text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise CommandArgumentError(f"{what} takes HH:MM (00:00..23:59), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def parse_duration(text: str) -> timedelta:
    """``"2:30"`` -> 2 h 30 min (H:MM)."""
    match = _HHMM.match(text.strip())
    if match is None or int(match.group(2)) > 59:
        raise CommandArgumentError(f"a duration takes H:MM, got {text!r}")
    return timedelta(hours=int(match.group(1)), minutes=int(match.group(2)))


def parse_days(text: str) -> frozenset[str]:
    """``"mon,wed"``, ``"mon-fri"``, ``"weekdays"``, ``"weekend"``, ``"all"``, ``"none"``."""
    days: set[str] = set()
    for raw in text.lower().split(","):
        item = raw.strip()
        if not item:
            continue
        if item in _DAY_GROUPS:
            days.update(_DAY_GROUPS[item])
            continue
        first, sep, last = (part.strip()[:3] for part in item.partition("-"))
        if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
            raise CommandArgumentError(
                f"days are mon..sun, ranges like mon-fri, weekdays, weekend, all or none; "
                f"got {item!r}"
            )
        i, j = DAY_NAMES.index(first), DAY_NAMES.index(last if sep else first)
        if j < i:
            raise CommandArgumentError(f"day range {item!r} runs backwards")
        days.update(DAY_NAMES[i : j + 1])
    return frozenset(days)


def _clock(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _hmm(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


@dataclass(frozen=True)
class BoostTimer:
    """One boost timer slot: boost from ``start`` for ``duration`` on ``days`` (charger time).

    Decoded slots are kept as the charger reports them; :meth:`checked` is what a command sends.
    """

    slot: int
    start: time
    duration: timedelta
    days: frozenset[str]

    @classmethod
    def cleared(cls, slot: int) -> BoostTimer:
        """The slot switched off (no start, no duration, no days)."""
        return cls(slot, time(0), timedelta(0), frozenset()).checked()

    @property
    def active(self) -> bool:
        return self.duration > timedelta(0) and bool(self.days)

    def checked(self) -> BoostTimer:
        """Self, or :class:`CommandArgumentError` naming what the charger would refuse."""
        if self.slot not in BOOST_SLOTS:
            raise CommandArgumentError(f"boost timer slot must be 11..14, got {self.slot!r}")
        if self.start.minute % 15 or self.start.second or self.start.microsecond:
            raise CommandArgumentError(
                f"a boost timer starts on a quarter hour (HH:00/15/30/45), got {_clock(self.start)}"
            )
        if self.duration % _QUARTER or not timedelta(0) <= self.duration <= MAX_BOOST_DURATION:
            raise CommandArgumentError(
                "a boost timer lasts 0:00..8:45 in quarter hours, got "
                f"{self.duration.total_seconds() / 60:g} min"
            )
        unknown = set(self.days) - set(DAY_NAMES)
        if unknown:
            raise CommandArgumentError(f"unknown days {sorted(unknown)}; days are mon..sun")
        if bool(self.days) != (self.duration > timedelta(0)):
            raise CommandArgumentError(
                "a boost timer needs both a duration and days; clear the slot to switch it off"
            )
        return self

    def wire(self) -> str:
        """``<slot>-<HHMM>-<HMM>-<day bits>`` of the write path."""
        minutes = int(self.duration.total_seconds()) // 60
        bits = "0" + "".join("1" if day in self.days else "0" for day in DAY_NAMES)
        return (
            f"{self.slot}-{self.start.hour:02d}{self.start.minute:02d}-"
            f"{minutes // 60}{minutes % 60:02d}-{bits}"
        )

    def fields(self) -> dict[str, Any]:
        """The slot as the read answer shows it (``bsh bsm bdh bdm bdd``)."""
        minutes = int(self.duration.total_seconds()) // 60
        return {
            "bsh": self.start.hour,
            "bsm": self.start.minute,
            "bdh": minutes // 60,
            "bdm": minutes % 60,
            "bdd": self.wire().rsplit("-", 1)[1],
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "start": _clock(self.start),
            "duration": _hmm(self.duration),
            "days": [day for day in DAY_NAMES if day in self.days],
            "active": self.active,
        }


def _slot_int(entry: Mapping[str, Any], key: str, endpoint: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadResponseError(
            f"{endpoint}: boost slot field {key!r} is {value!r}", endpoint=endpoint
        )
    try:
        return int(value)
    except ValueError:
        raise BadResponseError(
            f"{endpoint}: boost slot field {key!r} is {value!r}", endpoint=endpoint
        ) from None


def decode_boost_timers(payload: Mapping[str, Any], endpoint: str) -> tuple[BoostTimer, ...]:
    """The slots of a ``cgi-boost-time-Z`` answer, as the charger reports them."""
    entries = payload.get("boost_times")
    if not isinstance(entries, list):
        raise BadResponseError(f"{endpoint}: answer has no 'boost_times' list", endpoint=endpoint)
    timers = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise BadResponseError(f"{endpoint}: a boost slot is not an object", endpoint=endpoint)
        slot, bsh, bsm, bdh, bdm = (
            _slot_int(entry, key, endpoint) for key in ("slt", "bsh", "bsm", "bdh", "bdm")
        )
        bdd = entry.get("bdd")
        if not isinstance(bdd, str) or len(bdd) != 8 or set(bdd) - {"0", "1"}:
            raise BadResponseError(
                f"{endpoint}: day bits {bdd!r} are not 8 of 0/1", endpoint=endpoint
            )
        if not (0 <= bsh <= 23 and 0 <= bsm <= 59 and bdh >= 0 and 0 <= bdm <= 59):
            raise BadResponseError(
                f"{endpoint}: slot {slot} has an impossible time", endpoint=endpoint
            )
        days = frozenset(day for day, bit in zip(DAY_NAMES, bdd[1:], strict=True) if bit == "1")
        timers.append(BoostTimer(slot, time(bsh, bsm), timedelta(hours=bdh, minutes=bdm), days))
    return tuple(sorted(timers, key=lambda t: t.slot))
