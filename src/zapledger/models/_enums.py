"""The enums every layer shares: pure ``enum`` with no third-party imports.

They live apart from the decoders so that the CLI can offer them as choices without loading
msgspec, httpx or a database driver (``zapledger --help`` stays fast).
"""

from __future__ import annotations

import enum

__all__ = [
    "ChargeMode",
    "ChartKind",
    "DsmrVersion",
    "ExportFormat",
    "ExportResolution",
    "MeterFileFormat",
    "Period",
    "PhaseSetting",
    "Resolution",
]


class Resolution(enum.StrEnum):
    """History resolution: one record per minute or per hour."""

    MINUTE = "minute"
    HOUR = "hour"

    @property
    def seconds(self) -> int:
        return 60 if self is Resolution.MINUTE else 3600


class Period(enum.StrEnum):
    """How reports group time: local hours, days, months or years."""

    HOUR = "hour"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class ExportResolution(enum.StrEnum):
    """Rows of ``zapledger export``: stored minute or hour records, or local-day sums."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class ExportFormat(enum.StrEnum):
    """File formats of ``zapledger export``."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class MeterFileFormat(enum.StrEnum):
    """What a meter file holds: DSMR P1 telegrams or CSV totaliser readings (``auto`` sniffs)."""

    AUTO = "auto"
    DSMR = "dsmr"
    CSV = "csv"


class DsmrVersion(enum.StrEnum):
    """The DSMR versions of P1 telegrams zapledger reads."""

    V2_2 = "2.2"
    V4 = "4"
    V5 = "5"


class ChartKind(enum.StrEnum):
    """Which charts ``zapledger chart`` draws (``all``, or one kind of :mod:`zapledger.report`)."""

    ALL = "all"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    YEARS = "years"
    PROFILE = "profile"


class ChargeMode(enum.StrEnum):
    """The charge modes a command can set (``zmo`` 1..4)."""

    FAST = "fast"
    ECO = "eco"
    ECO_PLUS = "eco+"
    STOP = "stop"

    @property
    def zmo(self) -> int:
        return {"fast": 1, "eco": 2, "eco+": 3, "stop": 4}[self.value]


class PhaseSetting(enum.StrEnum):
    """Single phase, three phase, or automatic switching (path value 0/1/2)."""

    SINGLE = "single"
    THREE = "three"
    AUTO = "auto"

    @property
    def wire(self) -> int:
        return {"single": 0, "three": 1, "auto": 2}[self.value]

    @property
    def status_value(self) -> str:
        """How ``phaseSetting`` in the status names it."""
        return {"single": "SINGLE_PHASE", "three": "THREE_PHASE", "auto": "AUTO"}[self.value]
