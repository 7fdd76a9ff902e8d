"""``zapledger meter import``: recognise a file's format and load it into the store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import MeterError
from ..models import DsmrVersion
from ..models import MeterFileFormat as FileFormat
from ._common import DEFAULT_MAX_FILE_BYTES, ReadStats, StoreWriter
from ._csv import DEFAULT_CSV_METER_ID, import_csv
from ._sources import import_dsmr_file

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["FileFormat", "detect_format", "import_file"]


def detect_format(path: str | Path) -> FileFormat:
    """DSMR when the first line that is not a comment starts a telegram ('/'), else CSV."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(64 * 1024)
    except OSError as exc:
        raise MeterError(f"cannot read {path}: {exc.strerror or exc}") from None
    for raw in head.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        return FileFormat.DSMR if line.startswith(b"/") else FileFormat.CSV
    raise MeterError(f"{path} holds no telegram and no CSV rows")


def import_file(
    path: str | Path,
    store: Store,
    *,
    file_format: FileFormat = FileFormat.AUTO,
    version: DsmrVersion | None = None,
    meter_id: str | None = None,
    start: datetime | None = None,
    interval: timedelta | None = None,
    tz: str = "UTC",
    every_s: float = 0.0,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ReadStats:
    """Load a telegram capture or a CSV file into the store, idempotently; returns the counts.

    Either format is streamed; a file over ``max_bytes`` stops with MeterError.
    """
    fmt = detect_format(path) if file_format is FileFormat.AUTO else file_format
    writer = StoreWriter(store, every_s=every_s, flush_s=float("inf"))
    if fmt is FileFormat.DSMR:
        result = import_dsmr_file(
            path,
            sink=writer,
            version=version,
            meter_id=meter_id,
            start=start,
            interval=interval,
            max_bytes=max_bytes,
        )
    else:
        result = import_csv(
            path,
            sink=writer,
            tz=tz,
            meter_id=meter_id or DEFAULT_CSV_METER_ID,
            max_bytes=max_bytes,
        )
    writer.flush()
    return writer.account(result)
