"""Result types of a reconciliation: plain data with ``as_dict()``; the CLI formats them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..models import Energy, Period

__all__ = [
    "PAIRS",
    "REASON_METER_GAP",
    "REASON_METER_RESET",
    "REASON_NOT_FINAL",
    "REASON_ZAPPI_MISSING",
    "Comparison",
    "Pair",
    "PairSummary",
    "ReconcileReport",
]

#: Why a period's values can't be compared as they are.
REASON_ZAPPI_MISSING = "missing zappi minutes"
REASON_METER_GAP = "meter gap"
REASON_METER_RESET = "meter reset"
REASON_NOT_FINAL = "not yet final"


@dataclass(frozen=True, slots=True)
class Pair:
    """A zappi quantity and the meter channels that measure the same energy."""

    name: str
    zappi_label: str
    meter_label: str
    channels: tuple[str, ...]
    zappi_j: Callable[[Energy], int] = field(repr=False, compare=False)


PAIRS: tuple[Pair, ...] = (
    Pair("import", "imp", "P1 import T1+T2", ("import_t1", "import_t2"), lambda e: e.import_j),
    Pair("export", "exp", "P1 export T1+T2", ("export_t1", "export_t2"), lambda e: e.export_j),
    Pair("generation", "gep", "PV meter", ("pv",), lambda e: e.generation_j),
    Pair("ev", "h1d+h1b", "EV meter", ("ev",), lambda e: e.ev_j),
)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One period of one pair: both energies (kWh), meter minus zappi, and what is known of it.

    ``relative_pct`` is ``(meter - zappi) / zappi`` in percent (None when the zappi saw no
    energy). ``comparable`` is true when nothing in ``reasons`` spoils the comparison.
    """

    pair: str
    period: str  # local label: 2026-11-01, 2026-11, or 2026-11-01T10:00+01:00
    start: datetime  # UTC
    end: datetime  # UTC
    hours: int
    zappi_kwh: float | None
    meter_kwh: float | None
    difference_kwh: float | None
    relative_pct: float | None
    flagged: bool
    estimated: bool
    reasons: tuple[str, ...]

    @property
    def comparable(self) -> bool:
        return not self.reasons and self.difference_kwh is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "period": self.period,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "hours": self.hours,
            "zappi_kwh": _round(self.zappi_kwh),
            "meter_kwh": _round(self.meter_kwh),
            "difference_kwh": _round(self.difference_kwh),
            "relative_pct": _round(self.relative_pct, 3),
            "flagged": self.flagged,
            "estimated": self.estimated,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class PairSummary:
    """The comparison of one pair over the whole span, from the hours that can be compared.

    ``bias_pct`` is ``sum(meter) / sum(zappi) - 1`` in percent (energy-weighted);
    ``mean_abs_difference_kwh`` is per hour; ``drift_pct_per_month`` is the slope of the daily
    relative difference (percentage points per mean month), when there are enough days.
    """

    pair: str
    zappi_label: str
    meter_label: str
    hours: int
    hours_compared: int
    zappi_kwh: float
    meter_kwh: float
    bias_pct: float | None
    mean_abs_difference_kwh: float | None
    drift_pct_per_month: float | None
    flagged_periods: int
    excluded: dict[str, int]
    worst_hours: tuple[Comparison, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "zappi": self.zappi_label,
            "meter": self.meter_label,
            "hours": self.hours,
            "hours_compared": self.hours_compared,
            "zappi_kwh": _round(self.zappi_kwh, 3),
            "meter_kwh": _round(self.meter_kwh, 3),
            "bias_pct": _round(self.bias_pct, 3),
            "mean_abs_difference_kwh": _round(self.mean_abs_difference_kwh),
            "drift_pct_per_month": _round(self.drift_pct_per_month, 3),
            "flagged_periods": self.flagged_periods,
            "excluded_hours": dict(sorted(self.excluded.items())),
            "worst_hours": [c.as_dict() for c in self.worst_hours],
        }


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Everything one reconciliation found: rows at the asked granularity, days, summaries."""

    serial: str | None
    tz: str
    first_day: date
    last_day: date
    period: Period
    tolerance_pct: float
    rows: tuple[Comparison, ...]
    days: tuple[Comparison, ...]
    summaries: tuple[PairSummary, ...]
    meter_ids: tuple[str, ...]

    def summary(self, pair: str) -> PairSummary:
        for s in self.summaries:
            if s.pair == pair:
                return s
        raise KeyError(pair)

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.rows if r.flagged)

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "tz": self.tz,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "period": self.period.value,
            "tolerance_pct": self.tolerance_pct,
            "meter_ids": list(self.meter_ids),
            "summaries": [s.as_dict() for s in self.summaries],
            "rows": [r.as_dict() for r in self.rows],
        }
