"""The values of EV charge sessions: one session, its minutes, and the report over a range."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from ..localtime import to_local
from ..models import joules_to_kwh

__all__ = ["ChargeSession", "EndReason", "SessionMinute", "SessionReport"]

_MINUTE_S = 60


class SessionMinute(NamedTuple):
    """One stored minute inside a session: its UTC start and the EV energy in it (joules).

    A plain tuple ``(start, diverted_j, boosted_j)``, so cost code can price it minute by minute.
    """

    start: datetime
    diverted_j: int
    boosted_j: int

    @property
    def energy_j(self) -> int:
        return self.diverted_j + self.boosted_j


class EndReason(enum.StrEnum):
    """Why a session ended where it did."""

    #: no energy for the whole pause (known idle minutes; missing minutes do not count)
    PAUSE = "pause"
    #: a status snapshot showed the car unplugged (``pst`` A)
    UNPLUG = "unplug"
    #: more minutes missing than :data:`~zapledger.sessions.MAX_MISSING_JOIN` before more energy
    MISSING_DATA = "missing_data"
    #: the stored data ends before the pause is over: still charging, or not synced yet
    OPEN = "open"


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _local(ts: datetime | None, tz: str) -> str | None:
    return None if ts is None else to_local(ts, tz).isoformat()


def _share(part_j: int, whole_j: int) -> float | None:
    return part_j / whole_j if whole_j else None


@dataclass(frozen=True, slots=True)
class ChargeSession:
    """One charge of the car, keyed by ``(serial, start)``; UTC inside, local time in ``as_dict``.

    ``start`` is the start of the first minute with energy into the car, ``end`` the end of the
    last one. ``minutes`` holds every *stored* minute in ``[start, end)`` (idle ones too);
    ``missing`` the UTC ranges ``[from, to)`` of minutes that are not stored: never filled in.
    """

    serial: str
    start: datetime
    end: datetime
    minutes: tuple[SessionMinute, ...]
    missing: tuple[tuple[datetime, datetime], ...]
    modes: tuple[str, ...]
    plugged_in_at: datetime | None
    unplugged_at: datetime | None
    end_reason: EndReason

    @property
    def key(self) -> tuple[str, datetime]:
        return self.serial, self.start

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def diverted_j(self) -> int:
        """Solar (diverted) energy into the car."""
        return sum(m.diverted_j for m in self.minutes)

    @property
    def boosted_j(self) -> int:
        """Grid (boost) energy into the car."""
        return sum(m.boosted_j for m in self.minutes)

    @property
    def energy_j(self) -> int:
        return self.diverted_j + self.boosted_j

    @property
    def solar_share(self) -> float | None:
        """Diverted over total energy (None for a session without energy, which never occurs)."""
        return _share(self.diverted_j, self.energy_j)

    @property
    def peak_power_w(self) -> float:
        """The highest minute's mean power: its energy over 60 s."""
        return max((m.energy_j for m in self.minutes), default=0) / _MINUTE_S

    @property
    def mean_power_w(self) -> float:
        """Energy over the whole duration (idle and missing minutes included)."""
        seconds = self.duration.total_seconds()
        return self.energy_j / seconds if seconds else 0.0

    @property
    def missing_minutes(self) -> int:
        return sum(int((b - a).total_seconds()) // _MINUTE_S for a, b in self.missing)

    def as_dict(self, tz: str, *, minutes: bool = False) -> dict[str, Any]:
        """Plain values: joules and kWh, UTC and local (``tz``) times; the minutes on request."""
        out: dict[str, Any] = {
            "serial": self.serial,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "start_local": _local(self.start, tz),
            "end_local": _local(self.end, tz),
            "duration_s": int(self.duration.total_seconds()),
            "energy_j": self.energy_j,
            "diverted_j": self.diverted_j,
            "boosted_j": self.boosted_j,
            "energy_kwh": joules_to_kwh(self.energy_j),
            "diverted_kwh": joules_to_kwh(self.diverted_j),
            "boosted_kwh": joules_to_kwh(self.boosted_j),
            "solar_share": self.solar_share,
            "peak_power_w": self.peak_power_w,
            "mean_power_w": self.mean_power_w,
            "modes": list(self.modes),
            "missing_minutes": self.missing_minutes,
            "missing": [{"from": a.isoformat(), "to": b.isoformat()} for a, b in self.missing],
            "plugged_in_at": _iso(self.plugged_in_at),
            "plugged_in_at_local": _local(self.plugged_in_at, tz),
            "unplugged_at": _iso(self.unplugged_at),
            "unplugged_at_local": _local(self.unplugged_at, tz),
            "end_reason": self.end_reason.value,
        }
        if minutes:
            out["minutes"] = [
                {"start": m.start.isoformat(), "diverted_j": m.diverted_j, "boosted_j": m.boosted_j}
                for m in self.minutes
            ]
        return out


@dataclass(frozen=True, slots=True)
class SessionReport:
    """The sessions that start within the local days ``first_day``..``last_day`` of ``tz``."""

    first_day: date
    last_day: date
    tz: str
    serial: str | None
    pause: timedelta
    sessions: tuple[ChargeSession, ...]

    @property
    def energy_j(self) -> int:
        return sum(s.energy_j for s in self.sessions)

    @property
    def diverted_j(self) -> int:
        return sum(s.diverted_j for s in self.sessions)

    @property
    def boosted_j(self) -> int:
        return sum(s.boosted_j for s in self.sessions)

    @property
    def solar_share(self) -> float | None:
        return _share(self.diverted_j, self.energy_j)

    @property
    def missing_minutes(self) -> int:
        return sum(s.missing_minutes for s in self.sessions)

    def as_dict(self, *, minutes: bool = False) -> dict[str, Any]:
        return {
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "tz": self.tz,
            "serial": self.serial,
            "pause_s": int(self.pause.total_seconds()),
            "sessions": [s.as_dict(self.tz, minutes=minutes) for s in self.sessions],
            "total": {
                "sessions": len(self.sessions),
                "energy_j": self.energy_j,
                "diverted_j": self.diverted_j,
                "boosted_j": self.boosted_j,
                "energy_kwh": joules_to_kwh(self.energy_j),
                "diverted_kwh": joules_to_kwh(self.diverted_j),
                "boosted_kwh": joules_to_kwh(self.boosted_j),
                "solar_share": self.solar_share,
                "missing_minutes": self.missing_minutes,
            },
        }
