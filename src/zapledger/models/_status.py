"""Decoding of the live status (``cgi-jstatus-*``): the zappi and its neighbours."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..exceptions import BadResponseError
from ._wire import _enum_name, _Fields, _iso, _OpenIntEnum, _OpenStrEnum, decode_json

#: pwm is a percentage of 60 A times 100 (4100 -> 24.6 A).
_PWM_FULL_SCALE_A = 60.0


class ZappiMode(_OpenIntEnum):
    """``zmo``: the charge mode."""

    STARTUP_FAULT = 0
    FAST = 1
    ECO = 2
    ECO_PLUS = 3
    STOPPED = 4


class ChargeStatus(_OpenIntEnum):
    """``sta``: what the charger is doing."""

    STARTING = 0
    PAUSED = 1
    DSR = 2
    CHARGING = 3
    BOOSTING = 4
    COMPLETE = 5


class PlugStatus(_OpenStrEnum):
    """``pst``: the pilot state between charger and car."""

    EV_DISCONNECTED = "A"
    EV_CONNECTED = "B1"
    WAITING_FOR_EV = "B2"
    EV_READY = "C1"
    CHARGING = "C2"
    FAULT = "F"


class CommandState(enum.StrEnum):
    """``cmt``: progress of the last command sent to the charger."""

    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    OK = "ok"
    NONE = "none"
    UNKNOWN = "unknown"

    @classmethod
    def from_cmt(cls, cmt: int | None) -> CommandState | None:
        if cmt is None:
            return None
        if 1 <= cmt <= 10:
            return cls.IN_PROGRESS
        return {253: cls.FAILED, 254: cls.OK, 255: cls.NONE}.get(cmt, cls.UNKNOWN)


@dataclass(frozen=True, slots=True)
class LockFlags:
    """``lck`` bit field, named."""

    raw: int
    locked_now: bool
    lock_when_plugged: bool
    lock_when_unplugged: bool
    lock_when_charging: bool
    charge_session_allowed: bool

    @classmethod
    def from_bits(cls, lck: int) -> LockFlags:
        return cls(
            raw=lck,
            locked_now=bool(lck & 1),
            lock_when_plugged=bool(lck & 2),
            lock_when_unplugged=bool(lck & 4),
            lock_when_charging=bool(lck & 8),
            charge_session_allowed=bool(lck & 16),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "locked_now": self.locked_now,
            "lock_when_plugged": self.lock_when_plugged,
            "lock_when_unplugged": self.lock_when_unplugged,
            "lock_when_charging": self.lock_when_charging,
            "charge_session_allowed": self.charge_session_allowed,
        }


@dataclass(frozen=True, slots=True)
class CtClamp:
    """One CT clamp: its configured name and the power through it."""

    index: int
    name: str
    power_w: float | None


@dataclass(frozen=True, slots=True)
class SmartBoost:
    """Smart boost target: ``sbk`` kWh ready by ``sbh``:``sbm`` (``sbm`` may be absent)."""

    hour: int | None
    minute: int | None
    energy_kwh: float | None


def _voltage_v(raw: Any) -> float | None:
    """``vol``: deciVolt on current firmware (an int), volts on some older firmware (a float)."""
    if raw is None:
        return None
    value = float(raw)
    if isinstance(raw, int) or value > 1000:
        return round(value / 10, 1)
    return value


def _utc_from_dat_tim(dat: str | None, tim: str | None, context: str) -> datetime | None:
    if dat is None or tim is None:
        return None
    try:
        return datetime.strptime(f"{dat} {tim}", "%d-%m-%Y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise BadResponseError(f"{context}: unreadable date/time {dat!r} {tim!r}") from None


#: Keys ZappiStatus decodes into typed attributes; anything else is kept in ``extra``.
_ZAPPI_KNOWN_KEYS = frozenset(
    {
        "sno", "dat", "tim", "fwv", "zmo", "sta", "pst", "vol", "frq", "grd", "gen", "div", "che",
        "pwm", "mgl", "lck", "cmt", "bsm", "bss", "bst", "tbk", "sbh", "sbm", "sbk", "pha", "pri",
        "dst", "tz", "rac", "rdc", "rrac", "zs", "zsh", "zsl", "batteryDischargeEnabled",
        "beingTamperedWith", "g100LockoutState", "newAppAvailable", "newBootloaderAvailable",
        "deviceClass", "productCode", "isVHubEnabled", "phaseSetting",
        *(f"ectp{i}" for i in range(1, 7)), *(f"ectt{i}" for i in range(1, 7)),
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ZappiStatus:
    """One zappi's live status (``cgi-jstatus-Z``), every documented field decoded with its unit.

    Fields whose meaning is not published are kept raw under their wire name; ``raw`` is the
    payload as received and ``extra`` holds keys this version does not know.
    """

    serial: str
    timestamp: datetime | None
    firmware: str | None
    mode: ZappiMode | None
    charge_status: ChargeStatus | None
    plug_status: PlugStatus | None
    voltage_v: float | None
    frequency_hz: float | None
    grid_power_w: float | None
    generation_power_w: float | None
    charge_power_w: float
    charge_added_kwh: float | None
    current_limit_a: float | None
    min_green_level_pct: int | None
    locks: LockFlags | None
    command_timer: int | None
    command_state: CommandState | None
    manual_boost_active: bool | None
    smart_boost_active: bool | None
    timed_boost_active: bool | None
    manual_boost_kwh: float | None
    smart_boost: SmartBoost | None
    phases: int | None
    priority: int | None
    daylight_saving: bool | None
    timezone_raw: int | None
    ct_clamps: tuple[CtClamp, ...]
    device_class: str | None
    product_code: str | None
    is_vhub_enabled: bool | None
    phase_setting: str | None
    residual_ac_raw: float | None
    residual_dc_raw: float | None
    rrac_raw: float | None
    zs_raw: int | None
    zsh_raw: int | None
    zsl_raw: int | None
    battery_discharge_enabled_raw: bool | None
    being_tampered_with_raw: bool | None
    g100_lockout_state_raw: str | None
    new_app_available_raw: bool | None
    new_bootloader_available_raw: bool | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the stable keys of ``zapledger decode --json`` / ``status --json``."""
        return {
            "device": "zappi",
            "serial": self.serial,
            "timestamp": _iso(self.timestamp),
            "firmware": self.firmware,
            "mode": _enum_name(self.mode),
            "charge_status": _enum_name(self.charge_status),
            "plug_status": self.plug_status.value if self.plug_status is not None else None,
            "plug_status_name": _enum_name(self.plug_status),
            "voltage_v": self.voltage_v,
            "frequency_hz": self.frequency_hz,
            "grid_power_w": self.grid_power_w,
            "generation_power_w": self.generation_power_w,
            "charge_power_w": self.charge_power_w,
            "charge_added_kwh": self.charge_added_kwh,
            "current_limit_a": self.current_limit_a,
            "min_green_level_pct": self.min_green_level_pct,
            "locks": self.locks.as_dict() if self.locks is not None else None,
            "command_timer": self.command_timer,
            "command_state": self.command_state.value if self.command_state else None,
            "boost": {
                "manual_active": self.manual_boost_active,
                "smart_active": self.smart_boost_active,
                "timed_active": self.timed_boost_active,
                "manual_kwh": self.manual_boost_kwh,
                "smart_target": None
                if self.smart_boost is None
                else {
                    "hour": self.smart_boost.hour,
                    "minute": self.smart_boost.minute,
                    "energy_kwh": self.smart_boost.energy_kwh,
                },
            },
            "phases": self.phases,
            "priority": self.priority,
            "daylight_saving": self.daylight_saving,
            "timezone_raw": self.timezone_raw,
            "ct_clamps": [
                {"index": c.index, "name": c.name, "power_w": c.power_w} for c in self.ct_clamps
            ],
            "device_class": self.device_class,
            "product_code": self.product_code,
            "is_vhub_enabled": self.is_vhub_enabled,
            "phase_setting": self.phase_setting,
            "unknown_meaning": {
                "rac": self.residual_ac_raw,
                "rdc": self.residual_dc_raw,
                "rrac": self.rrac_raw,
                "zs": self.zs_raw,
                "zsh": self.zsh_raw,
                "zsl": self.zsl_raw,
                "batteryDischargeEnabled": self.battery_discharge_enabled_raw,
                "beingTamperedWith": self.being_tampered_with_raw,
                "g100LockoutState": self.g100_lockout_state_raw,
                "newAppAvailable": self.new_app_available_raw,
                "newBootloaderAvailable": self.new_bootloader_available_raw,
            },
            "extra": dict(self.extra),
        }


def parse_zappi(obj: Any) -> ZappiStatus:
    """Decode one entry of a ``{"zappi": [...]}`` list."""
    if not isinstance(obj, Mapping):
        raise BadResponseError(f"zappi status should be an object, got {type(obj).__name__}")
    serial = obj.get("sno")
    if isinstance(serial, bool) or not isinstance(serial, int | str) or str(serial) == "":
        raise BadResponseError("zappi status has no serial number ('sno')")
    ctx = f"zappi {serial}"
    f = _Fields(obj, ctx)

    zmo, sta, pst = f.integer("zmo"), f.integer("sta"), f.text("pst")
    pwm, lck, cmt = f.number("pwm"), f.integer("lck"), f.integer("cmt")
    vol = obj.get("vol")
    if vol is not None:
        f.number("vol")
    frq = f.number("frq")
    clamps = []
    for i in range(1, 7):
        name = f.text(f"ectt{i}")
        power = f.number(f"ectp{i}")
        if name is not None and name != "None":
            clamps.append(CtClamp(index=i, name=name, power_w=power))
    sbh, sbm, sbk = f.integer("sbh"), f.integer("sbm"), f.number("sbk")
    smart = None if sbh is None and sbm is None and sbk is None else SmartBoost(sbh, sbm, sbk)

    return ZappiStatus(
        serial=str(serial),
        timestamp=_utc_from_dat_tim(f.text("dat"), f.text("tim"), ctx),
        firmware=f.text("fwv"),
        mode=ZappiMode(zmo) if zmo is not None else None,
        charge_status=ChargeStatus(sta) if sta is not None else None,
        plug_status=PlugStatus(pst) if pst is not None else None,
        voltage_v=_voltage_v(vol),
        frequency_hz=frq,
        grid_power_w=f.number("grd"),
        generation_power_w=f.number("gen"),
        charge_power_w=f.number("div") or 0.0,
        charge_added_kwh=f.number("che"),
        current_limit_a=None if pwm is None else round(pwm / 10_000 * _PWM_FULL_SCALE_A, 2),
        min_green_level_pct=f.integer("mgl"),
        locks=LockFlags.from_bits(lck) if lck is not None else None,
        command_timer=cmt,
        command_state=CommandState.from_cmt(cmt),
        manual_boost_active=f.flag("bsm"),
        smart_boost_active=f.flag("bss"),
        timed_boost_active=f.flag("bst"),
        manual_boost_kwh=f.number("tbk"),
        smart_boost=smart,
        phases=f.integer("pha"),
        priority=f.integer("pri"),
        daylight_saving=f.flag("dst"),
        timezone_raw=f.integer("tz"),
        ct_clamps=tuple(clamps),
        device_class=f.text("deviceClass"),
        product_code=f.text("productCode"),
        is_vhub_enabled=f.flag("isVHubEnabled"),
        phase_setting=f.text("phaseSetting"),
        residual_ac_raw=f.number("rac"),
        residual_dc_raw=f.number("rdc"),
        rrac_raw=f.number("rrac"),
        zs_raw=f.integer("zs"),
        zsh_raw=f.integer("zsh"),
        zsl_raw=f.integer("zsl"),
        battery_discharge_enabled_raw=f.flag("batteryDischargeEnabled"),
        being_tampered_with_raw=f.flag("beingTamperedWith"),
        g100_lockout_state_raw=f.text("g100LockoutState"),
        new_app_available_raw=f.flag("newAppAvailable"),
        new_bootloader_available_raw=f.flag("newBootloaderAvailable"),
        extra={k: v for k, v in obj.items() if k not in _ZAPPI_KNOWN_KEYS},
        raw=dict(obj),
    )


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """An eddi, harvi or libbi entry of the all-device status: serial, family and the raw fields."""

    device_type: str
    serial: str
    raw: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device_type, "serial": self.serial, "raw": dict(self.raw)}


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """The answer of ``cgi-jstatus-*``: every device on the hub, plus the hub's asn/firmware."""

    zappis: tuple[ZappiStatus, ...]
    others: tuple[DeviceStatus, ...]
    asn: str | None
    hub_firmware: str | None
    raw: Any

    def zappi(self, serial: str | None = None) -> ZappiStatus:
        """The zappi with that serial, or the only/first one."""
        for z in self.zappis:
            if serial is None or z.serial == str(serial):
                return z
        raise BadResponseError(
            "no zappi in the status" if serial is None else f"zappi {serial} is not in the status"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "asn": self.asn,
            "hub_firmware": self.hub_firmware,
            "devices": [z.as_dict() for z in self.zappis] + [d.as_dict() for d in self.others],
        }


_DEVICE_FAMILIES = ("zappi", "eddi", "harvi", "libbi")


#: More devices than any hub serves (a few zappis, eddis, harvis): a payload beyond is refused
#: before its entries are decoded one by one.
MAX_DEVICES = 256


def parse_status(payload: Any) -> SiteStatus:
    """Decode a ``cgi-jstatus-*`` payload: a list of family objects, or one ``{"zappi": [...]}``."""
    parts: Sequence[Any]
    if isinstance(payload, Mapping):
        parts = [payload]
    elif isinstance(payload, list):
        parts = payload
    else:
        raise BadResponseError(
            f"status should be an object or a list, got {type(payload).__name__}"
        )
    zappis: list[ZappiStatus] = []
    others: list[DeviceStatus] = []
    asn: str | None = None
    hub_fw: str | None = None
    recognised = False
    for part in parts:
        if not isinstance(part, Mapping):
            raise BadResponseError(f"status entry should be an object, got {type(part).__name__}")
        for key, value in part.items():
            if key in _DEVICE_FAMILIES:
                recognised = True
                if not isinstance(value, list):
                    raise BadResponseError(f"status {key!r} should be a list")
                if len(zappis) + len(others) + len(value) > MAX_DEVICES:
                    raise BadResponseError(
                        f"status lists more than the limit of {MAX_DEVICES} devices"
                    )
                for entry in value:
                    if key == "zappi":
                        zappis.append(parse_zappi(entry))
                    else:
                        others.append(_parse_other(key, entry))
            elif key == "asn":
                recognised = True
                asn = None if value is None else str(value)
            elif key == "fwv":
                hub_fw = None if value is None else str(value)
    if not recognised:
        raise BadResponseError("status payload has no device family (zappi/eddi/harvi/libbi)")
    return SiteStatus(tuple(zappis), tuple(others), asn, hub_fw, payload)


def _parse_other(family: str, entry: Any) -> DeviceStatus:
    if not isinstance(entry, Mapping):
        raise BadResponseError(f"{family} status should be an object")
    sno = entry.get("sno")
    if isinstance(sno, bool) or not isinstance(sno, int | str):
        raise BadResponseError(f"{family} status has no serial number ('sno')")
    return DeviceStatus(device_type=family, serial=str(sno), raw=dict(entry))


def decode_status(data: bytes | str, *, endpoint: str = "cgi-jstatus") -> SiteStatus:
    """Decode the bytes of a ``cgi-jstatus-*`` answer."""
    try:
        return parse_status(decode_json(data, endpoint=endpoint))
    except BadResponseError as exc:
        if exc.endpoint is not None:
            raise
        raise BadResponseError(f"{endpoint}: {exc}", endpoint=endpoint) from None


def decode_zappi(data: bytes | str, serial: str | None = None) -> ZappiStatus:
    """Decode a ``cgi-jstatus-Z<serial>`` answer to that zappi's status."""
    return decode_status(data, endpoint=f"cgi-jstatus-Z{serial or ''}").zappi(serial)
