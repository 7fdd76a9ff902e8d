"""DSMR P1 telegrams to totaliser readings, with dsmr-parser doing the parsing.

* DSMR 2.2 (Kamstrup 162/351/382): 9600 baud 7E1, no CRC, no time in the telegram: a reading's
  time is the receive time (``time_source="receive"``).
* DSMR 4 (115200 7E1) and 5 (115200 8N1): the CRC16 is checked; the meter's own time
  ``0-0:1.0.0`` with its S/W (summer/winter) flag is used. dsmr-parser reads that time as Dutch
  local time (Europe/Amsterdam, right for NL/BE/LU meters) and gives it in UTC.

A bad telegram is an :class:`Issue`, never an exception: the reader goes on with the next one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from ..exceptions import MeterError
from ..models import DsmrVersion, MeterReading
from ._common import Issue, IssueKind, ReadingSink, ReadStats, kwh_to_joules, reading_time
from ._framing import RawTelegram, TelegramFramer, format_capture

__all__ = [
    "DEFAULT_METER_ID",
    "SERIAL_SETTINGS",
    "TelegramDecoder",
    "TelegramReader",
    "detect_version",
]

# dsmr-parser logs every line it cannot parse; zapledger reports those itself as issues. A null
# handler keeps Python's last-resort handler from printing them when logging is not configured.
logging.getLogger("dsmr_parser").addHandler(logging.NullHandler())

DEFAULT_METER_ID = "p1"


def _specification(version: DsmrVersion) -> dict[str, Any]:
    spec: dict[str, Any] = {
        DsmrVersion.V2_2: telegram_specifications.V2_2,
        DsmrVersion.V4: telegram_specifications.V4,
        DsmrVersion.V5: telegram_specifications.V5,
    }[version]
    return spec


#: pyserial settings per version: (baud rate, data bits, parity, stop bits).
SERIAL_SETTINGS: dict[DsmrVersion, tuple[int, int, str, int]] = {
    DsmrVersion.V2_2: (9600, 7, "E", 1),
    DsmrVersion.V4: (115200, 7, "E", 1),
    DsmrVersion.V5: (115200, 8, "N", 1),
}

#: Telegram object name -> channel.
_TOTALISERS = {
    "ELECTRICITY_USED_TARIFF_1": "import_t1",
    "ELECTRICITY_USED_TARIFF_2": "import_t2",
    "ELECTRICITY_DELIVERED_TARIFF_1": "export_t1",
    "ELECTRICITY_DELIVERED_TARIFF_2": "export_t2",
}
_UNIT_FACTOR = {"kwh": Decimal(1), "wh": Decimal("0.001")}
_VERSION_LINE = re.compile(r"^\d-\d:0\.2\.8\((\d+)\)", re.MULTILINE)
_CRC_LINE = re.compile(r"^![0-9A-Fa-f]{4}\s*$", re.MULTILINE)


def detect_version(text: str) -> DsmrVersion:
    """The DSMR version a telegram is written in: its ``0.2.8`` line, else whether it has a CRC."""
    match = _VERSION_LINE.search(text)
    if match:
        return DsmrVersion.V5 if match.group(1).startswith("5") else DsmrVersion.V4
    return DsmrVersion.V4 if _CRC_LINE.search(text) else DsmrVersion.V2_2


def _readable_id(value: str) -> str:
    """Equipment ids travel hex-encoded (``4B3845…`` is ``K8E…``); decode when it is text."""
    try:
        text = bytes.fromhex(value).decode("ascii")
    except ValueError:
        return value
    return text.strip() if text.strip() and text.isprintable() else value


class TelegramDecoder:
    """One telegram to readings (one per totaliser channel) and issues.

    ``version=None`` decides on the first complete telegram and keeps that version. The time of
    a telegram without meter time is its receive time, else ``start + index * interval``.
    """

    def __init__(
        self,
        version: DsmrVersion | None = None,
        *,
        meter_id: str | None = None,
        start: datetime | None = None,
        interval: timedelta | None = None,
        source: str = "dsmr",
    ) -> None:
        self.version = version
        self.meter_id = meter_id
        self.start = start
        self.interval = interval
        self.source = source
        self._parser: TelegramParser | None = None
        self._known: re.Pattern[str] | None = None
        if version is not None:
            self._use(version)

    def _use(self, version: DsmrVersion) -> None:
        self.version = version
        spec = _specification(version)
        self._parser = TelegramParser(spec, apply_checksum_validation=True)
        # One alternation of the version's line signatures, to spot the lines it doesn't know.
        self._known = re.compile(
            "|".join(f"(?:{obj['obis_reference']})" for obj in spec["objects"]),
            re.MULTILINE | re.DOTALL,
        )

    def decode(self, raw: RawTelegram) -> tuple[list[MeterReading], list[Issue]]:
        if not raw.ascii_only:
            return [], [Issue(IssueKind.GARBLED, "bytes that are not ASCII", raw.line, raw.byte)]
        if self._parser is None:
            self._use(detect_version(raw.text))
        parser = self._parser
        assert parser is not None and self.version is not None
        try:
            telegram = parser.parse(raw.text, throw_ex=True)
        except InvalidChecksumError as exc:
            return [], [Issue(IssueKind.CRC, str(exc), raw.line, raw.byte)]
        except ParseError as exc:
            kind = IssueKind.CRC if "CRC validation" in str(exc) else IssueKind.PARSE
            return [], [Issue(kind, _one_line(exc), raw.line, raw.byte)]
        except Exception as exc:  # dsmr-parser lets Decimal/int errors of a bad value through
            message = f"a value does not parse ({type(exc).__name__})"
            return [], [Issue(IssueKind.PARSE, message, raw.line, raw.byte)]
        issues = self._unknown_lines(raw)
        ts, time_source = self._time(telegram, raw)
        if ts is None:
            issues.append(
                Issue(
                    IssueKind.NO_TIME,
                    "no meter time and no receive time (give --start and --interval)",
                    raw.line,
                    raw.byte,
                )
            )
            return [], issues
        meter_id = self.meter_id or self._equipment(telegram) or DEFAULT_METER_ID
        readings: list[MeterReading] = []
        for name, channel in _TOTALISERS.items():
            obj = getattr(telegram, name, None)
            if obj is None or obj.value is None:
                continue
            factor = _UNIT_FACTOR.get(str(obj.unit or "kWh").lower())
            if factor is None:
                issues.append(
                    Issue(IssueKind.PARSE, f"{name} in unit {obj.unit!r}", raw.line, raw.byte)
                )
                continue
            readings.append(
                MeterReading(
                    meter_id=meter_id,
                    channel=channel,
                    timestamp=ts,
                    total_j=kwh_to_joules(Decimal(obj.value) * factor),
                    source=self.source,
                    time_source=time_source,
                )
            )
        if not readings:
            issues.append(
                Issue(IssueKind.NO_TOTALISER, "no energy totaliser in it", raw.line, raw.byte)
            )
        return readings, issues

    def _unknown_lines(self, raw: RawTelegram) -> list[Issue]:
        """Lines that no object of the version describes (dsmr-parser skips them silently)."""
        issues: list[Issue] = []
        pos = 0
        lines = raw.text.split("\r\n")[:-1]
        for i, line in enumerate(lines):
            here = pos
            pos += len(line) + 2
            if i == 0 or not line or line[0] in "(!":
                continue  # header, blank line, continuation of a two-line object, the end
            if self._known is not None and self._known.match(raw.text, here):
                continue
            issues.append(
                Issue(
                    IssueKind.UNKNOWN_OBIS,
                    f"line not in DSMR {self.version}: {line[:60]!r} (ignored)",
                    raw.line + i,
                    raw.line_bytes[i],
                )
            )
        return issues

    def _time(self, telegram: Any, raw: RawTelegram) -> tuple[datetime | None, str]:
        stamp = getattr(telegram, "P1_MESSAGE_TIMESTAMP", None)
        if stamp is not None and isinstance(stamp.value, datetime):
            return reading_time(stamp.value), "meter"
        if raw.received_at is not None:
            return reading_time(raw.received_at), "receive"
        if self.start is not None and self.interval is not None:
            return reading_time(self.start + raw.index * self.interval), "receive"
        return None, "receive"

    @staticmethod
    def _equipment(telegram: Any) -> str | None:
        obj = getattr(telegram, "EQUIPMENT_IDENTIFIER", None)
        if obj is None or not obj.value:
            return None
        return _readable_id(str(obj.value))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class TelegramReader:
    """Framer + decoder + counters: feed bytes from any source, get readings, count the rest.

    Every complete telegram is also written to ``capture`` (with its ``# received`` line) when
    given, so a live session can be imported again later.
    """

    def __init__(
        self,
        version: DsmrVersion | None = None,
        *,
        source: str = "dsmr",
        meter_id: str | None = None,
        start: datetime | None = None,
        interval: timedelta | None = None,
        directives: bool = False,
        clock: Callable[[], datetime] | None = None,
        sink: ReadingSink | None = None,
        capture: TextIO | None = None,
    ) -> None:
        self.stats = ReadStats(source=source)
        self.decoder = TelegramDecoder(
            version, meter_id=meter_id, start=start, interval=interval, source="dsmr"
        )
        self.framer = TelegramFramer(clock=clock, directives=directives)
        self.sink = sink
        self.capture = capture

    @property
    def telegrams(self) -> int:
        return self.stats.units

    def feed(self, data: bytes) -> list[MeterReading]:
        return self._handle(self.framer.feed(data))

    def close(self) -> list[MeterReading]:
        return self._handle(self.framer.close())

    def _handle(self, events: list[RawTelegram | Issue]) -> list[MeterReading]:
        out: list[MeterReading] = []
        for event in events:
            if isinstance(event, Issue):
                if event.kind is IssueKind.TRUNCATED:
                    self.stats.units += 1
                self.stats.add_issue(event)
                continue
            self.stats.units += 1
            if self.capture is not None:
                when = event.received_at or datetime.now(UTC)
                self.capture.write(format_capture(event.text, when))
                self.capture.flush()
            readings, issues = self.decoder.decode(event)
            for issue in issues:
                self.stats.add_issue(issue)
            if readings:
                self.stats.accepted += 1
                self.stats.note_readings(readings)
                out.extend(readings)
        if out and self.sink is not None:
            self.sink(out)
        return out


def require_version(value: str | None) -> DsmrVersion | None:
    """``"auto"``/None -> None (detect), else the version; MeterError for an unknown one."""
    if value is None or value == "auto":
        return None
    try:
        return DsmrVersion(value)
    except ValueError:
        raise MeterError(f"unknown DSMR version {value!r} (use 2.2, 4 or 5)") from None
