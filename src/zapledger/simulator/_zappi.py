"""The simulated zappis' settings and their status payload; commands are in ``_commands``.

The power flows in the status come from the household truth at ``now`` (grd/gen/div are the mean
power of the minute containing ``now``). Commands change only the settings fields (``zmo bsm bss tbk
sbh sbm sbk mgl lck pri phaseSetting`` and the boost timers): the history never depends on commands,
so it stays a pure function of the seed. ``zmo`` follows the household's charging sessions until a
mode command sets it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ._commands import CommandDesk, DeviceLogEntry, error
from .household import Household

__all__ = ["ZappiDevices", "error"]

_TZ_INDEX = {"Europe/London": 0, "Europe/Dublin": 0, "Europe/Lisbon": 0}
_IDLE_PWM = 5300
#: The settings of a zappi fresh from the factory (status field names; ``None``: see above).
_DEFAULTS: dict[str, Any] = {
    "zmo": None,
    "bsm": 0,
    "tbk": 5,
    "bss": 0,
    "sbh": 17,
    "sbm": 0,
    "sbk": 20,
    "mgl": 100,
    "lck": 16,
    "pri": 1,
    "phaseSetting": "SINGLE_PHASE",
    "cmt": 254,
    "boost_time_11": (1, 0, 4, 0, "01111111"),
    "boost_time_12": (0, 0, 0, 0, "00000000"),
    "boost_time_13": (0, 0, 0, 0, "00000000"),
    "boost_time_14": (0, 0, 0, 0, "00000000"),
}


class ZappiDevices:
    """Settings of every zappi on the hub and the status builder; commands go to ``desk``."""

    def __init__(
        self, household: Household, timezone: str, hub_serial: str, command_reads: int = 2
    ) -> None:
        self.household = household
        self.timezone = timezone
        self.hub_serial = hub_serial
        self._settings = {sn: dict(_DEFAULTS) for sn in household.zappi_serials}
        self.desk = CommandDesk(household.zappi_serials, household.seed, command_reads)
        self._lock = threading.Lock()

    @property
    def serials(self) -> tuple[str, ...]:
        return self.household.zappi_serials

    # -- status ------------------------------------------------------------------------------

    def status(self, serial: str, now: datetime) -> dict[str, Any]:
        """One zappi's status object at ``now``; counts as a status read for ``cmt``."""
        with self._lock:
            values = self._settings[serial]
            snapshot = dict(values)  # a command completing on this read shows from the next one
            cmt = self.desk.tick(serial, values)
        return self._build(serial, now, snapshot, cmt)

    def settings(self, serial: str) -> dict[str, Any]:
        """A copy of one zappi's settings (status field names, ``boost_time_<slot>`` entries)."""
        with self._lock:
            return dict(self._settings[serial])

    def reset(self) -> None:
        """Every zappi back to its factory settings, with an empty device log."""
        with self._lock:
            self._settings = {sn: dict(_DEFAULTS) for sn in self.serials}
            self.desk.reset()

    def device_log(self) -> tuple[DeviceLogEntry, ...]:
        with self._lock:
            return self.desk.log()

    def command(self, path: str, now: datetime, asn: str) -> dict[str, Any] | None:
        """Answer a command path (or the boost timer table); None when it is no command."""
        with self._lock:
            return self.desk.handle(path, now, asn, self._settings)

    def _che_kwh(self, serial: str, now: datetime, session_energy_j: int, plugged: bool) -> float:
        if plugged:
            return round(session_energy_j / 3_600_000, 2)
        if self.household.zappi_serials.index(serial) != 0:
            return 0.0
        ended = [s for s in self.household.ev_sessions(now.date()) if s.end <= now]
        return round(ended[-1].delivered_j / 3_600_000, 2) if ended else 0.0

    def _build(self, serial: str, now: datetime, st: dict[str, Any], cmt: int) -> dict[str, Any]:
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
        zmo = st["zmo"] if st["zmo"] is not None else (ev.session.mode if ev.session else 3)
        pwm = round(div / (vol / 10) / 60 * 10000) if div and vol else _IDLE_PWM
        local = now.astimezone(ZoneInfo(self.timezone))
        dst = local.dst()
        zsh = 12 if div else (8 if plugged else 0)
        zsl = 2 * zmo
        m = now.hour * 60 + now.minute
        out: dict[str, Any] = {
            "batteryDischargeEnabled": False,
            "beingTamperedWith": False,
            "bsm": st["bsm"],
            "bss": st["bss"],
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
                "lck": st["lck"],
                "mgl": st["mgl"],
                "newAppAvailable": False,
                "newBootloaderAvailable": False,
                "pha": 1,
                "phaseSetting": st["phaseSetting"],
                "pri": st["pri"],
                "productCode": "3562",
                "pst": pst,
                "pwm": pwm,
                "rac": 3 + m % 3,
                "rdc": -4 + m % 2,
                "rrac": -8,
                "sbh": st["sbh"],
            }
        )
        if st["sbm"]:
            out["sbm"] = st["sbm"]
        out.update(
            {
                "sbk": st["sbk"],
                "sno": int(serial),
                "sta": sta,
                "tbk": st["tbk"],
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
