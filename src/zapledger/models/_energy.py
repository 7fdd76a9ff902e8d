"""The one energy type: summed joules of a site over some span, with the derived balance.

Store, reports, reconciliation and export all speak :class:`Energy`; the formulas of the derived
values are written down in ``docs/formulas.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from ._wire import joules_to_kwh

__all__ = ["ENERGY_FIELDS", "Energy", "EnergyBucket"]


class Energy(msgspec.Struct, frozen=True, gc=False):
    """Summed energies in integer joules, with the derived balance (see docs/formulas.md)."""

    import_j: int = 0
    export_j: int = 0
    generation_j: int = 0
    generation_negative_j: int = 0
    diverted_j: int = 0
    boosted_j: int = 0

    @classmethod
    def total(cls, items: Iterable[Energy]) -> Energy:
        """Field-wise sum (by name: the order of the fields is defined once, above)."""
        sums = dict.fromkeys(ENERGY_FIELDS, 0)
        for item in items:
            for name, value in zip(ENERGY_FIELDS, msgspec.structs.astuple(item), strict=True):
                sums[name] += value
        return cls(**sums)

    def __add__(self, other: Energy) -> Energy:
        return Energy.total((self, other))

    @property
    def ev_j(self) -> int:
        """Everything that went into the EV: diverted (solar) plus boosted (grid)."""
        return self.diverted_j + self.boosted_j

    @property
    def consumption_j(self) -> int:
        """Everything used on site, EV and the inverter's standby included."""
        return self.generation_j + self.import_j - self.export_j

    @property
    def house_j(self) -> int:
        """Site consumption without the EV (the inverter's standby ``gen`` is part of it)."""
        return self.consumption_j - self.ev_j

    @property
    def self_consumed_j(self) -> int:
        """Generated energy used on site rather than exported."""
        return self.generation_j - self.export_j

    @property
    def self_consumption_rate(self) -> float | None:
        """Share of the generation used on site; None without generation."""
        gen = self.generation_j
        return self.self_consumed_j / gen if gen > 0 else None

    @property
    def self_sufficiency_rate(self) -> float | None:
        """Share of the consumption covered by own generation; None without consumption."""
        use = self.consumption_j
        return self.self_consumed_j / use if use > 0 else None

    @property
    def ev_solar_share(self) -> float | None:
        """Share of the EV's energy that was diverted surplus; None when the EV took nothing."""
        ev = self.ev_j
        return self.diverted_j / ev if ev > 0 else None

    def joules(self) -> dict[str, int]:
        """Stored and derived sums in joules, by column name."""
        stored = dict(zip(ENERGY_FIELDS, msgspec.structs.astuple(self), strict=True))
        return stored | {
            "ev_j": self.ev_j,
            "house_j": self.house_j,
            "consumption_j": self.consumption_j,
            "self_consumed_j": self.self_consumed_j,
        }

    def rates(self) -> dict[str, float | None]:
        return {
            "self_consumption_rate": self.self_consumption_rate,
            "self_sufficiency_rate": self.self_sufficiency_rate,
            "ev_solar_share": self.ev_solar_share,
        }

    def as_dict(self) -> dict[str, Any]:
        """Joules, kWh (the display edge) and the rates."""
        joules = self.joules()
        kwh = {k[:-2] + "_kwh": joules_to_kwh(v) for k, v in joules.items()}
        return joules | kwh | self.rates()


#: The stored joule fields of :class:`Energy`, in order: what reports sum and checks compare.
ENERGY_FIELDS: tuple[str, ...] = Energy.__struct_fields__


class EnergyBucket(msgspec.Struct, frozen=True, gc=False):
    """The energy of one UTC-aligned bucket (an hour, usually) summed from stored history."""

    start: datetime
    records: int
    energy: Energy
