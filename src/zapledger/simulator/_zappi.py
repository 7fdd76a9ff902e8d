"""The simulated zappis' settings, their status payload, and the command endpoints.

The power flows in the status come from the household truth at ``now`` (grd/gen/div are the mean
power of the minute containing ``now``). Commands change only the settings fields (``zmo bsm bss tbk
sbh sbm sbk mgl lck pri phaseSetting`` and the boost timers): the history never depends on commands,
so it stays a pure function of the seed. After a successful command ``cmt`` shows 1, 5, 9 on the
next status reads (``command_reads`` of them, default 2) and then 254 (last command OK).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .household import Household

__all__ = ["ZappiDevices", "error", "ok"]

_PHASES = {0: "SINGLE_PHASE", 1: "THREE_PHASE", 2: "AUTO"}
_TZ_INDEX = {"Europe/London": 0, "Europe/Dublin": 0, "Europe/Lisbon": 0}
_IDLE_PWM = 5300
_BOOST_SLOTS = (11, 12, 13, 14)

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


def error(code: int) -> dict[str, Any]:
    """Errors carry their status as a string, as the real API does."""
    return {"status": str(code), "statustext": ""}


@dataclass
class _Settings:
    zmo: int | None = None
    bsm: int = 0
    tbk: int = 5
    bss: int = 0
    sbh: int = 17
    sbm: int = 0
    sbk: int = 20
    mgl: int = 100
    lck: int = 16
    pri: int = 1
    phase: str = "SINGLE_PHASE"
    cmt: int = 254
    flight_reads: int = 0
    flight_step: int = 0
    #: slot -> (bsh, bsm, bdh, bdm, bdd)
    boost_times: dict[int, tuple[int, int, int, int, str]] = field(
        default_factory=lambda: {
            11: (1, 0, 4, 0, "01111111"),
            12: (0, 0, 0, 0, "00000000"),
            13: (0, 0, 0, 0, "00000000"),
            14: (0, 0, 0, 0, "00000000"),
        }
    )


def _valid_hhmm(text: str) -> tuple[int, int] | None:
    hh, mm = int(text[:2]), int(text[2:])
    if hh > 23 or mm % 15 or mm > 45:
        return None
    return hh, mm


class ZappiDevices:
    """Settings of every zappi on the hub, plus the status builder and command handlers."""

    def __init__(
        self, household: Household, timezone: str, hub_serial: str, command_reads: int = 2
    ) -> None:
        self.household = household
        self.timezone = timezone
        self.hub_serial = hub_serial
        self.command_reads = command_reads
        self._settings = {sn: _Settings() for sn in household.zappi_serials}
        self._lock = threading.Lock()

    @property
    def serials(self) -> tuple[str, ...]:
        return self.household.zappi_serials

    # -- status ------------------------------------------------------------------------------

    def status(self, serial: str, now: datetime) -> dict[str, Any]:
        """One zappi's status object at ``now``; counts as a status read for ``cmt``."""
        with self._lock:
            st = self._settings[serial]
            if st.flight_reads > 0:
                cmt = min(10, 1 + 4 * st.flight_step)
                st.flight_step += 1
                st.flight_reads -= 1
                if st.flight_reads == 0:
                    st.cmt = 254
            else:
                cmt = st.cmt
            snapshot = replace(st)
        return self._build(serial, now, snapshot, cmt)

    def _che_kwh(self, serial: str, now: datetime, session_energy_j: int, plugged: bool) -> float:
        if plugged:
            return round(session_energy_j / 3_600_000, 2)
        if self.household.zappi_serials.index(serial) != 0:
            return 0.0
        ended = [s for s in self.household.ev_sessions(now.date()) if s.end <= now]
        return round(ended[-1].delivered_j / 3_600_000, 2) if ended else 0.0

    def _build(self, serial: str, now: datetime, st: _Settings, cmt: int) -> dict[str, Any]:
        now = now.astimezone(UTC)
        hh = self.household
        minute = hh.minute(now, serial)
        ev = hh.ev_state(now, serial)
        grd = round((minute["imp"] - minute["exp"]) / 60)
        gen = round((minute["gep"] - minute["gen"]) / 60)
        div = ev.power_w
        vol = minute["v1"]
        plugged = ev.session is not None
        if not plugged:
            pst, sta = "A", 1
        elif div > 0:
            pst, sta = "C2", 4 if ev.boosting else 3
        elif ev.complete:
            pst, sta = "B2", 5
        else:
            pst, sta = "B1", 1
        zmo = st.zmo if st.zmo is not None else (ev.session.mode if ev.session else 3)
        pwm = round(div / (vol / 10) / 60 * 10000) if div and vol else _IDLE_PWM
        local = now.astimezone(ZoneInfo(self.timezone))
        dst = local.dst()
        zsh = 12 if div else (8 if plugged else 0)
        zsl = 2 * zmo
        m = now.hour * 60 + now.minute
        out: dict[str, Any] = {
            "batteryDischargeEnabled": False,
            "beingTamperedWith": False,
            "bsm": st.bsm,
            "bss": st.bss,
            "bst": 1 if ev.timed_boost else 0,
            "che": self._che_kwh(serial, now, ev.session_energy_j, plugged),
            "cmt": cmt,
            "dat": now.strftime("%d-%m-%Y"),
            "deviceClass": "ZAPPI",
        }
        if div:
            out["div"] = div
        out.update(
            {
                "dst": 1 if dst else 0,
                "ectp1": div,
                "ectp2": grd,
                "ectp3": m % 3 - 1,
                "ectp4": -(m % 7),
                "ectt1": "Internal Load",
                "ectt2": "Grid",
                "ectt3": "None",
                "ectt4": "None",
                "ectt5": "None",
                "ectt6": "None",
                "frq": minute["frq"] / 100,
                "fwv": "3560S5.039",
                "g100LockoutState": "NONE",
                "gen": gen,
                "grd": grd,
                "isVHubEnabled": serial == self.serials[0],
                "lck": st.lck,
                "mgl": st.mgl,
                "newAppAvailable": False,
                "newBootloaderAvailable": False,
                "pha": 1,
                "phaseSetting": st.phase,
                "pri": st.pri,
                "productCode": "3562",
                "pst": pst,
                "pwm": pwm,
                "rac": 3 + m % 3,
                "rdc": -4 + m % 2,
                "rrac": -8,
                "sbh": st.sbh,
            }
        )
        if st.sbm:
            out["sbm"] = st.sbm
        out.update(
            {
                "sbk": st.sbk,
                "sno": int(serial),
                "sta": sta,
                "tbk": st.tbk,
                "tim": now.strftime("%H:%M:%S"),
                "tz": _TZ_INDEX.get(self.timezone, 3),
                "vol": vol,
                "zmo": zmo,
                "zs": zsh * 256 + zsl,
                "zsh": zsh,
                "zsl": zsl,
            }
        )
        return out

    # -- commands ----------------------------------------------------------------------------

    def command(self, path: str, asn: str) -> dict[str, Any] | None:
        """Answer a command path; None when the path is not a command at all."""
        for pattern, handler in (
            (_MODE, self._mode),
            (_MIN_GREEN, self._min_green),
            (_PRIORITY, self._priority),
            (_PHASE, self._phase),
            (_BOOST_TIME, self._boost_time),
        ):
            match = pattern.match(path)
            if match:
                serial, args = match.group(1), match.group(2)
                if serial not in self._settings:
                    return error(-13)
                with self._lock:
                    return handler(self._settings[serial], args, asn)
        match = _LOCK.match(path)
        if match:
            serial, args = match.group(2), match.group(3)
            if match.group(1) or serial not in self._settings:
                return error(-13)
            with self._lock:
                return self._jlock(self._settings[serial], args, asn)
        return None

    def _done(self, st: _Settings) -> None:
        st.flight_reads = self.command_reads
        st.flight_step = 0
        if not self.command_reads:
            st.cmt = 254

    def _mode(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        match = _MODE_ARGS.match(args or "")
        if not match:
            return error(-14)
        mode, cmd, kwh, hhmm = (int(g) for g in match.groups())
        text = match.group(4)
        if mode != 0:
            if mode > 4 or cmd != 0 or kwh != 0 or hhmm != 0:
                return error(-14)
            st.zmo = mode
        elif cmd == 10 and 1 <= kwh <= 99 and hhmm == 0:
            st.bsm, st.bss, st.tbk = 1, 0, kwh
        elif cmd == 11 and 1 <= kwh <= 99:
            at = _valid_hhmm(text)
            if at is None:
                return error(-14)
            st.bss, st.bsm = 1, 0
            st.sbh, st.sbm = at
            st.sbk = kwh
        elif cmd == 2 and kwh == 0 and hhmm == 0:
            st.bsm = st.bss = 0
        else:
            return error(-14)
        self._done(st)
        return ok(asn=asn)

    def _min_green(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        if not args or not args.isdigit() or not 1 <= int(args) <= 100:
            return error(-14)
        st.mgl = int(args)
        self._done(st)
        return {"mgl": st.mgl}

    def _priority(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        if not args or not args.isdigit() or not 1 <= int(args) <= 9:
            return error(-14)
        st.pri = int(args)
        self._done(st)
        return ok()

    def _phase(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        if not args or not args.isdigit() or int(args) not in _PHASES:
            return error(-14)
        st.phase = _PHASES[int(args)]
        self._done(st)
        return ok()

    def _boost_time(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        if args is not None:
            match = _BOOST_ARGS.match(args)
            if not match:
                return error(-14)
            slot = int(match.group(1))
            start = _valid_hhmm(match.group(2))
            dur = match.group(3).zfill(4)
            length = _valid_hhmm(dur)
            if slot not in _BOOST_SLOTS or start is None or length is None or length[0] > 8:
                return error(-14)
            st.boost_times[slot] = (*start, *length, match.group(4))
            self._done(st)
        return {
            "boost_times": [
                {"bdd": bdd, "bdh": bdh, "bdm": bdm, "bsh": bsh, "bsm": bsm, "slt": slot}
                for slot, (bsh, bsm, bdh, bdm, bdd) in sorted(st.boost_times.items())
            ]
        }

    def _jlock(self, st: _Settings, args: str | None, asn: str) -> dict[str, Any]:
        if not args or len(args) != 8 or set(args) - {"0", "1"}:
            return error(-14)
        st.lck = int(args, 2)
        self._done(st)
        return ok()
