"""Household meter readings: DSMR P1 telegrams, HomeWizard P1 dongles, CSV files.

Readings are totaliser values (joules since the meter's own zero) with their time in UTC: the
meter's time where the telegram has one, the receive time otherwise. They are stored with
:class:`~zapledger.store.MeterReading` idempotently. Bad input is counted and reported with its
position, never stored, and never stops a reader. :func:`channel_hours` turns the totalisers into
energy per UTC hour for :mod:`zapledger.reconciliation`.

DSMR support needs the extra ``meters`` (dsmr-parser, pyserial); HomeWizard the extra
``homewizard``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._common import (
    CHANNELS,
    Issue,
    IssueKind,
    ReadingSink,
    ReadStats,
    StoreWriter,
    kwh_to_joules,
)
from ._csv import CSV_COLUMNS, CSV_HEADER, DEFAULT_CSV_METER_ID, import_csv, parse_csv
from ._framing import RECEIVED_DIRECTIVE, RawTelegram, TelegramFramer, format_capture
from ._homewizard import homewizard_readings, poll_homewizard
from ._segments import (
    DEFAULT_MAX_BRACKET_S,
    DEFAULT_MAX_POWER_W,
    MeterHour,
    Segment,
    channel_hours,
    hour_starts,
    hourly_energy,
    split_segments,
)

if TYPE_CHECKING:
    from ._dsmr import (
        DEFAULT_METER_ID,
        SERIAL_SETTINGS,
        TelegramDecoder,
        TelegramReader,
        detect_version,
        require_version,
    )
    from ._ingest import detect_format, import_file
    from ._sources import import_dsmr_file, read_serial, read_tcp

#: Names that need dsmr-parser (extra ``meters``): imported on first use, so that reconciling
#: and CSV import work without it and the CLI starts fast.
_LAZY = {
    "DEFAULT_METER_ID": "_dsmr",
    "SERIAL_SETTINGS": "_dsmr",
    "TelegramDecoder": "_dsmr",
    "TelegramReader": "_dsmr",
    "detect_version": "_dsmr",
    "require_version": "_dsmr",
    "detect_format": "_ingest",
    "import_file": "_ingest",
    "import_dsmr_file": "_sources",
    "read_serial": "_sources",
    "read_tcp": "_sources",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(import_module(f"{__name__}.{module}"), name)
    except ImportError as exc:  # pragma: no cover - the extra is part of the test environment
        from ..exceptions import MeterError

        raise MeterError(
            f"DSMR support needs the extra: pip install 'zapledger[meters]' ({exc.name})"
        ) from None
    globals()[name] = value
    return value


__all__ = [
    "CHANNELS",
    "CSV_COLUMNS",
    "CSV_HEADER",
    "DEFAULT_CSV_METER_ID",
    "DEFAULT_MAX_BRACKET_S",
    "DEFAULT_MAX_POWER_W",
    "DEFAULT_METER_ID",
    "RECEIVED_DIRECTIVE",
    "SERIAL_SETTINGS",
    "Issue",
    "IssueKind",
    "MeterHour",
    "RawTelegram",
    "ReadStats",
    "ReadingSink",
    "Segment",
    "StoreWriter",
    "TelegramDecoder",
    "TelegramFramer",
    "TelegramReader",
    "channel_hours",
    "detect_format",
    "detect_version",
    "format_capture",
    "homewizard_readings",
    "hour_starts",
    "hourly_energy",
    "import_csv",
    "import_dsmr_file",
    "import_file",
    "kwh_to_joules",
    "parse_csv",
    "poll_homewizard",
    "read_serial",
    "read_tcp",
    "require_version",
    "split_segments",
]
