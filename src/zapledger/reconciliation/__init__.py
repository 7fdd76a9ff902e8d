"""Reconciliation: the zappi's history checked against the household's own meters.

For each period and pair (zappi ``imp`` vs the P1 import totalisers, ``exp`` vs export, ``gep``
vs the PV meter, ``h1d``+``h1b`` vs the EV meter) both energies, their difference
(``meter - zappi``), the relative difference (of the zappi's value), a flag beyond the tolerance
and the known reasons (missing zappi minutes, meter gap, meter reset, not yet final). Reads the
store only.
"""

from __future__ import annotations

from ._chart import render_chart
from ._compute import DEFAULT_TOLERANCE_PCT, MIN_FLAG_KWH, reconcile, reconcile_summary
from ._results import (
    PAIRS,
    REASON_METER_GAP,
    REASON_METER_RESET,
    REASON_NOT_FINAL,
    REASON_ZAPPI_MISSING,
    Comparison,
    Pair,
    PairSummary,
    ReconcileReport,
)

__all__ = [
    "DEFAULT_TOLERANCE_PCT",
    "MIN_FLAG_KWH",
    "PAIRS",
    "REASON_METER_GAP",
    "REASON_METER_RESET",
    "REASON_NOT_FINAL",
    "REASON_ZAPPI_MISSING",
    "Comparison",
    "Pair",
    "PairSummary",
    "ReconcileReport",
    "reconcile",
    "reconcile_summary",
    "render_chart",
]
