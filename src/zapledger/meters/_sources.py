"""Where DSMR telegrams come from: a capture file, a serial port, a TCP socket (ser2net style).

Each source feeds bytes to a :class:`TelegramReader` and hands the readings to a sink (usually a
:class:`StoreWriter`). Live sources run until ``stop`` is set or ``max_telegrams`` were seen.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import stamina

from ..exceptions import MeterError
from ..models import DsmrVersion
from ._common import DEFAULT_MAX_FILE_BYTES, ReadingSink, ReadStats, over_limit
from ._dsmr import SERIAL_SETTINGS, TelegramReader

__all__ = ["import_dsmr_file", "read_serial", "read_tcp"]

_CHUNK = 64 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def import_dsmr_file(
    path: str | Path,
    *,
    sink: ReadingSink | None = None,
    version: DsmrVersion | None = None,
    meter_id: str | None = None,
    start: datetime | None = None,
    interval: timedelta | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ReadStats:
    """Read a file of captured telegrams (``# received`` lines optional, see :mod:`._framing`).

    Telegrams without meter time and without a ``# received`` line get ``start + n * interval``.
    The file is streamed in chunks; more than ``max_bytes`` raises MeterError.
    """
    file = Path(path)
    reader = TelegramReader(
        version,
        source=str(file),
        meter_id=meter_id,
        start=start,
        interval=interval,
        directives=True,
        sink=sink,
    )
    total = 0
    try:
        with file.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise over_limit(str(file), max_bytes)
                reader.feed(chunk)
    except OSError as exc:
        raise MeterError(f"cannot read {file}: {exc.strerror or exc}") from None
    reader.close()
    return reader.stats


def _done(reader: TelegramReader, stop: threading.Event | None, max_telegrams: int | None) -> bool:
    if stop is not None and stop.is_set():
        return True
    return max_telegrams is not None and reader.telegrams >= max_telegrams


def read_serial(
    port: str,
    version: DsmrVersion,
    *,
    sink: ReadingSink | None = None,
    meter_id: str | None = None,
    stop: threading.Event | None = None,
    max_telegrams: int | None = None,
    capture: TextIO | None = None,
    clock: Callable[[], datetime] = _now,
    read_timeout_s: float = 1.0,
) -> ReadStats:
    """Read telegrams from a serial port (or any pyserial URL) with the version's line settings.

    DSMR 2.2 is 9600 baud 7E1, DSMR 4 115200 7E1, DSMR 5 115200 8N1. A port that cannot be
    opened or fails while reading raises :class:`MeterError` (a service manager restarts us).
    """
    import serial

    baud, bits, parity, stopbits = SERIAL_SETTINGS[version]
    reader = TelegramReader(
        version, source=port, meter_id=meter_id, clock=clock, sink=sink, capture=capture
    )
    try:
        with serial.serial_for_url(
            port,
            baudrate=baud,
            bytesize=bits,
            parity=parity,
            stopbits=stopbits,
            timeout=read_timeout_s,
        ) as handle:
            while not _done(reader, stop, max_telegrams):
                data = handle.read(max(1, handle.in_waiting))
                if data:
                    reader.feed(data)
    except serial.SerialException as exc:
        raise MeterError(f"serial port {port}: {exc}") from None
    return reader.stats


def read_tcp(
    host: str,
    port: int,
    version: DsmrVersion | None,
    *,
    sink: ReadingSink | None = None,
    meter_id: str | None = None,
    stop: threading.Event | None = None,
    max_telegrams: int | None = None,
    reconnect: bool = True,
    capture: TextIO | None = None,
    clock: Callable[[], datetime] = _now,
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 1.0,
    max_wait_s: float = 30.0,
) -> ReadStats:
    """Read telegrams from a TCP socket (ser2net, a P1 Wi-Fi dongle's raw port).

    With ``reconnect`` a connection that fails, or closes without sending anything, is tried
    again with growing, jittered waits (up to ``max_wait_s``; ``stop`` is looked at before each
    try); one that delivered data and then closed is opened again at once. Without it the end of
    the stream ends reading, and a connection that cannot be made raises :class:`MeterError`.
    """
    reader = TelegramReader(
        version,
        source=f"tcp://{host}:{port}",
        meter_id=meter_id,
        clock=clock,
        sink=sink,
        capture=capture,
    )

    def session() -> int:
        """One connection, read until it closes; returns the bytes received."""
        received = 0
        with socket.create_connection((host, port), timeout=connect_timeout_s) as conn:
            conn.settimeout(read_timeout_s)
            while not _done(reader, stop, max_telegrams):
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                received += len(data)
                reader.feed(data)
        reader.close()  # a telegram cut by the disconnect is truncated
        return received

    if not reconnect:
        try:
            session()
        except OSError as exc:
            raise MeterError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return reader.stats
    while not _done(reader, stop, max_telegrams):
        for attempt in stamina.retry_context(
            on=OSError, attempts=None, timeout=None, wait_initial=0.5, wait_max=max_wait_s
        ):
            with attempt:
                if _done(reader, stop, max_telegrams):
                    break
                if session() == 0 and not _done(reader, stop, max_telegrams):
                    raise ConnectionResetError("the connection closed without sending anything")
    return reader.stats
