"""What the MQTT bridge publishes: topics, Home Assistant discovery configs and the state payload.

Pure functions (no broker here), so the conventions of ``docs/integrations.md`` can be read in
one place: one config per entity on ``<prefix>/<component>/<unique_id>/config`` (retained), all
entities of a zappi sharing one ``device`` block, availability on the bridge's last-will topic,
and every value read from the zappi's one JSON state topic through a ``value_template``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Energy, ZappiMode, ZappiStatus, joules_to_kwh

__all__ = [
    "COMMANDS",
    "ENERGY_SENSORS",
    "MODE_OPTIONS",
    "Topics",
    "discovery_configs",
    "mode_option",
    "state_payload",
]

ORIGIN_URL = "https://example.invalid/zapledger"
#: The modes the select offers, as the app names them (``zmo`` 1..4).
MODE_OPTIONS: tuple[str, ...] = ("fast", "eco", "eco+", "stop")
_MODE_BY_ZMO = {
    ZappiMode.FAST: "fast",
    ZappiMode.ECO: "eco",
    ZappiMode.ECO_PLUS: "eco+",
    ZappiMode.STOPPED: "stop",
}
#: Commands Home Assistant can send: ``<base>/<serial>/<name>/set``.
COMMANDS: tuple[str, ...] = ("mode", "min_green", "boost", "stop_boost")
#: (key in the state's ``energy``, display name, Energy field): lifetime counters from the store.
ENERGY_SENSORS: tuple[tuple[str, str, str], ...] = (
    ("grid_import_kwh", "Grid import", "import_j"),
    ("grid_export_kwh", "Grid export", "export_j"),
    ("generation_kwh", "Generation", "generation_j"),
    ("ev_solar_kwh", "EV from solar", "diverted_j"),
    ("ev_grid_kwh", "EV from grid", "boosted_j"),
)
AVAILABLE, NOT_AVAILABLE = "online", "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of one bridge, from its base topic and the discovery prefix."""

    base: str = "zapledger"
    discovery_prefix: str = "homeassistant"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant says ``online`` after it restarts."""
        return f"{self.discovery_prefix}/status"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/+/+/set"

    def state(self, serial: str) -> str:
        return f"{self.base}/{serial}/state"

    def command(self, serial: str, name: str) -> str:
        return f"{self.base}/{serial}/{name}/set"

    def result(self, serial: str) -> str:
        """Where the outcome of each command is published, refusals included."""
        return f"{self.base}/{serial}/command/result"

    def config(self, component: str, unique_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{unique_id}/config"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """``(serial, command)`` of a command topic, else None."""
        parts = topic.split("/")
        base = self.base.split("/")
        if len(parts) != len(base) + 3 or parts[: len(base)] != base or parts[-1] != "set":
            return None
        return parts[-3], parts[-2]


def mode_option(mode: ZappiMode | None) -> str | None:
    """The select's option for a mode; None for a mode the select cannot set (startup, unknown)."""
    return None if mode is None else _MODE_BY_ZMO.get(mode)


def state_payload(zappi: ZappiStatus, energy: Energy | None) -> dict[str, Any]:
    """The JSON of the state topic: the decoded status, the select's mode, lifetime kWh."""
    out = zappi.as_dict()
    out["mode_option"] = mode_option(zappi.mode)
    if energy is not None:
        out["energy"] = {
            key: round(joules_to_kwh(getattr(energy, attr)), 4) for key, _, attr in ENERGY_SENSORS
        }
    return out


def _device(zappi: ZappiStatus) -> dict[str, Any]:
    return {
        "identifiers": [f"zapledger_zappi_{zappi.serial}"],
        "name": f"zappi {zappi.serial}",
        "manufacturer": "myenergi",
        "model": "zappi",
        "serial_number": zappi.serial,
        "sw_version": zappi.firmware or "unknown",
    }


def _value(path: str) -> str:
    return "{{ value_json." + path + " }}"


def discovery_configs(
    zappi: ZappiStatus,
    topics: Topics,
    *,
    version: str,
    with_energy: bool,
    boost_kwh: int,
) -> dict[str, dict[str, Any]]:
    """Config topic -> payload for every entity of one zappi (publish retained)."""
    sn = zappi.serial
    state = topics.state(sn)
    common: dict[str, Any] = {
        "device": _device(zappi),
        "origin": {"name": "zapledger", "sw_version": version, "support_url": ORIGIN_URL},
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "has_entity_name": True,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = []

    def sensor(key: str, name: str, path: str, **extra: Any) -> None:
        entities.append(
            ("sensor", key, {"name": name, "state_topic": state, "value_template": _value(path)})
        )
        entities[-1][2].update(extra)

    power = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
    sensor("grid_power", "Grid power", "grid_power_w", **power)
    sensor("generation_power", "Generation power", "generation_power_w", **power)
    sensor("charge_power", "Charge power", "charge_power_w", **power)
    sensor(
        "voltage", "Supply voltage", "voltage_v",
        device_class="voltage", unit_of_measurement="V", state_class="measurement",
    )  # fmt: skip
    sensor(
        "frequency", "Supply frequency", "frequency_hz",
        device_class="frequency", unit_of_measurement="Hz", state_class="measurement",
    )  # fmt: skip
    # the charge's own counter starts again at every session: total, never total_increasing
    sensor(
        "session_energy", "Session energy", "charge_added_kwh",
        device_class="energy", unit_of_measurement="kWh", state_class="total",
    )  # fmt: skip
    if with_energy:
        for key, name, _ in ENERGY_SENSORS:
            sensor(
                key.removesuffix("_kwh") + "_energy", name, f"energy.{key}",
                device_class="energy", unit_of_measurement="kWh",
                state_class="total_increasing",
            )  # fmt: skip
    sensor("charge_status", "Charge status", "charge_status")
    sensor("plug_status", "Plug status", "plug_status_name")
    entities.append(
        (
            "sensor",
            "last_command",
            {
                "name": "Last command",
                "state_topic": topics.result(sn),
                "value_template": _value("outcome"),
                "json_attributes_topic": topics.result(sn),
            },
        )
    )
    entities.append(
        (
            "select",
            "mode",
            {
                "name": "Charge mode",
                "state_topic": state,
                "value_template": _value("mode_option"),
                "command_topic": topics.command(sn, "mode"),
                "options": list(MODE_OPTIONS),
            },
        )
    )
    entities.append(
        (
            "number",
            "min_green",
            {
                "name": "Minimum green level",
                "state_topic": state,
                "value_template": _value("min_green_level_pct"),
                "command_topic": topics.command(sn, "min_green"),
                "min": 1,
                "max": 100,
                "step": 1,
                "mode": "slider",
                "unit_of_measurement": "%",
            },
        )
    )
    for key, name in (("boost", f"Boost {boost_kwh} kWh"), ("stop_boost", "Stop boost")):
        entities.append(
            (
                "button",
                key,
                {"name": name, "command_topic": topics.command(sn, key), "payload_press": "PRESS"},
            )
        )
    out: dict[str, dict[str, Any]] = {}
    for component, key, body in entities:
        unique_id = f"zapledger_{sn}_{key}"
        out[topics.config(component, unique_id)] = {
            **body,
            "unique_id": unique_id,
            # the entity id Home Assistant gives it (``object_id`` is deprecated since 2025.10)
            "default_entity_id": f"{component}.{unique_id}",
            **common,
        }
    return out
