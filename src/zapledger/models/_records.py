"""Value types the store persists and other layers read: devices, status snapshots, meter readings.

They live in ``models`` (not in the store) because meters produce them, reports and
reconciliation consume them, and the store only keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["Device", "MeterReading", "StatusSnapshot"]


@dataclass(frozen=True, slots=True)
class Device:
    """A device of the hub as the store knows it; ``name`` is the one given in the app."""

    serial: str
    device_type: str
    name: str | None = None

    @property
    def is_zappi(self) -> bool:
        return self.device_type.lower() == "zappi"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """A stored zappi status: the decoded columns and the raw JSON object it came from.

    ``mode``, ``charge_status`` and ``plug_status`` are the names the decoder gave (open enums:
    ``UNKNOWN_<n>`` for values nobody has documented).
    """

    serial: str
    timestamp: datetime
    fetched_at: datetime
    firmware: str | None
    mode: str | None
    charge_status: str | None
    plug_status: str | None
    voltage_v: float | None
    frequency_hz: float | None
    grid_power_w: int | None
    generation_power_w: int | None
    charge_power_w: int | None
    charge_added_kwh: float | None
    raw: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["timestamp"] = self.timestamp.isoformat()
        out["fetched_at"] = self.fetched_at.isoformat()
        out["raw"] = dict(self.raw)
        return out


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A totaliser reading of a household meter, in joules since the meter's own zero.

    ``channel`` is one of ``import_t1``, ``import_t2``, ``export_t1``, ``export_t2``, ``pv``, ``ev``
    (or a free name for other meters). ``source`` says where it came from (``dsmr``, ``csv``, …);
    ``time_source`` is ``meter`` when the reading carries the meter's own time, else ``receive``.
    """

    meter_id: str
    channel: str
    timestamp: datetime
    total_j: int
    source: str
    time_source: str = "meter"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["timestamp"] = self.timestamp.isoformat()
        return out
