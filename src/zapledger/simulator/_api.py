"""The endpoints of the simulated cloud, once a request is authenticated: path in, reply out.

Choices where the real API is not known (documented for client authors):

- history for a serial the hub does not have (or a family other than ``Z``) answers the envelope
  with an empty list, ``{"U<serial>": []}``; status/commands for such a serial answer
  ``{"status": "-13", "statustext": ""}``;
- a history path with an impossible date, hour, minute or count answers ``{"status": "-14", ...}``;
  counts are 1..1440 for both ``jday`` (minutes) and ``jdayhour`` (hours);
- days before the household's ``history_start`` and minutes after ``now`` are simply absent;
- any other path is a 404 HTML page.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ._zappi import ZappiDevices, error

__all__ = ["Reply", "SiteApi", "html_page", "path_kind"]

_JDAY = re.compile(
    r"^/cgi-jday-([A-Za-z])(\d+)-(\d{1,4})-(\d{1,2})-(\d{1,2})(?:-(\d{1,2})-(\d{1,2})-(\d{1,4}))?$"
)
_JDAYHOUR = re.compile(
    r"^/cgi-jdayhour-([A-Za-z])(\d+)-(\d{1,4})-(\d{1,2})-(\d{1,2})(?:-(\d{1,2})-(\d{1,4}))?$"
)
_JSTATUS = re.compile(r"^/cgi-jstatus-([*A-Za-z])(\d*)$")
_MAX_COUNT = 1440
_HUB_FWV = "3401S5.074"
_COMMAND_PREFIXES = (
    "/cgi-zappi-mode-",
    "/cgi-set-min-green-",
    "/cgi-set-priority-",
    "/cgi-zappi-phase-setting-",
    "/cgi-jlock-",
)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    #: The UTC day a history answer starts on (for ``corrupt_day``).
    day: date | None = None


def path_kind(path: str) -> str:
    """The statistics bucket of a path."""
    if path.startswith("/cgi-jstatus-"):
        return "status"
    if path.startswith("/cgi-jdayhour-"):
        return "jdayhour"
    if path.startswith("/cgi-jday-"):
        return "jday"
    if path.startswith("/cgi-boost-time-"):
        return "boost-time"
    if path.startswith("/cgi-get-app-key-"):
        return "app-key"
    if path.startswith(_COMMAND_PREFIXES):
        return "command"
    return "other"


def html_page(status: int, title: str, text: str) -> bytes:
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        f"<html><head><title>{status} {title}</title></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    ).encode()


def _json(obj: Any, day: date | None = None) -> Reply:
    return Reply(200, json.dumps(obj, separators=(",", ":")).encode(), day=day)


def _not_found() -> Reply:
    page = html_page(404, "Not Found", "The requested URL was not found on this server.")
    return Reply(404, page, "text/html; charset=iso-8859-1")


#: Days the simulated cloud answers for; any other (year 1, year 9999) is an invalid parameter.
_YEARS = range(2000, 2100)


def _date(y: str, m: str, d: str) -> date | None:
    try:
        day = date(int(y), int(m), int(d))
    except ValueError:
        return None
    return day if day.year in _YEARS else None


class SiteApi:
    """Read endpoints and command dispatch for one hub."""

    def __init__(
        self, devices: ZappiDevices, hub_serial: str, harvi_serials: tuple[str, ...], seed: int
    ) -> None:
        self.devices = devices
        self.household = devices.household
        self.hub_serial = hub_serial
        self.harvi_serials = harvi_serials
        self.seed = seed

    def handle(self, path: str, now: datetime, asn: str) -> Reply:
        if path.startswith("/cgi-jstatus-"):
            return self._status(path, now, asn)
        if path.startswith("/cgi-jdayhour-"):
            return self._history(path, now, hourly=True)
        if path.startswith("/cgi-jday-"):
            return self._history(path, now, hourly=False)
        if path == "/cgi-get-app-key-":
            return _json(self._app_keys())
        answer = self.devices.command(path, now, asn)
        if answer is not None:
            return _json(answer)
        return _not_found()

    def _app_keys(self) -> dict[str, Any]:
        names = [{"key": "siteName", "val": "Home"}]
        names += [
            {"key": f"Z{sn}", "val": "Drive" if i == 0 else f"Zappi {i + 1}"}
            for i, sn in enumerate(self.devices.serials)
        ]
        names += [{"key": f"H{sn}", "val": "PV"} for sn in self.harvi_serials]
        return {self.hub_serial: names}

    def _harvi(self, serial: str, now: datetime) -> dict[str, Any]:
        minute = self.household.minute(now)
        return {
            "sno": int(serial),
            "dat": now.strftime("%d-%m-%Y"),
            "tim": now.strftime("%H:%M:%S"),
            "ectp1": round((minute["gep"] - minute["gen"]) / 60),
            "ectt1": "Generation",
            "ectt2": "None",
            "ectt3": "None",
            "ect1p": 1,
            "ect2p": 1,
            "ect3p": 1,
            "fwv": "",
        }

    def _status(self, path: str, now: datetime, asn: str) -> Reply:
        match = _JSTATUS.match(path)
        if match is None:
            return _not_found()
        family, serial = match.group(1).upper(), match.group(2)
        zappis = self.devices.serials
        if family == "*" and not serial:
            parts: list[dict[str, Any]] = [
                {"eddi": []},
                {"zappi": [self.devices.status(sn, now) for sn in zappis]},
                {"harvi": [self._harvi(sn, now) for sn in self.harvi_serials]},
                {"libbi": []},
                {"asn": asn, "fwv": _HUB_FWV, "vhub": 1},
            ]
            minute_key = now.replace(second=0, microsecond=0).isoformat()
            random.Random(f"{self.seed}:{minute_key}:order").shuffle(parts)
            return _json(parts)
        if family == "Z":
            if not serial:
                return _json({"zappi": [self.devices.status(sn, now) for sn in zappis]})
            if serial in zappis:
                return _json({"zappi": [self.devices.status(serial, now)]})
            return _json(error(-13))
        if family == "H":
            if not serial:
                return _json({"harvi": [self._harvi(sn, now) for sn in self.harvi_serials]})
            if serial in self.harvi_serials:
                return _json({"harvi": [self._harvi(serial, now)]})
            return _json(error(-13))
        if family in ("E", "L") and not serial:
            return _json({"eddi" if family == "E" else "libbi": []})
        if family in ("E", "L"):
            return _json(error(-13))
        return _not_found()

    def _history(self, path: str, now: datetime, *, hourly: bool) -> Reply:
        match = (_JDAYHOUR if hourly else _JDAY).match(path)
        if match is None:
            return _not_found()
        groups = match.groups()
        family, serial = groups[0].upper(), groups[1]
        day = _date(*groups[2:5])
        envelope = f"U{serial}"
        if day is None:
            return _json(error(-14))
        windowed = groups[5] is not None
        if windowed:
            if hourly:
                hour, minute, count = int(groups[5]), 0, int(groups[6])
            else:
                hour, minute, count = int(groups[5]), int(groups[6]), int(groups[7])
            if hour > 23 or minute > 59 or not 1 <= count <= _MAX_COUNT:
                return _json(error(-14))
        if family != "Z" or serial not in self.devices.serials:
            return _json({envelope: []}, day)
        hh = self.household
        if not windowed:
            records = (
                hh.day_hours(day, serial, until=now)
                if hourly
                else hh.day_minutes(day, serial, until=now)
            )
            return _json({envelope: records}, day)
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        if hourly:
            records = hh.hour_window(start, count, serial, until=now)
        else:
            records = hh.minute_window(start, count, serial, until=now)
        return _json({envelope: records}, day)
