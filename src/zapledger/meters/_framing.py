"""Cutting a byte stream into DSMR telegrams, keeping where each one started.

dsmr-parser's own ``TelegramBuffer`` silently drops an unfinished telegram when the next one
starts; to count and report truncated telegrams and stray data with their line and byte
position, zapledger frames the stream itself. Framing only cuts at the ``/`` and ``!`` lines;
the lines themselves are parsed by dsmr-parser (see :mod:`._dsmr`).

Capture files may carry one directive between telegrams, in UTC or with an offset::

    # received 2026-11-01T10:00:00Z

It gives the receive time of the next telegram (DSMR 2.2 telegrams carry no time). Other lines
starting with ``#`` outside a telegram are comments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ._common import MAX_LINE_BYTES, Issue, IssueKind

__all__ = ["RECEIVED_DIRECTIVE", "RawTelegram", "TelegramFramer", "format_capture"]

RECEIVED_DIRECTIVE = "# received "


@dataclass(frozen=True, slots=True)
class RawTelegram:
    """One framed telegram: text with CRLF line ends, where it began, when it was received."""

    text: str
    line: int  # 1-based line of the '/' header
    byte: int  # 0-based byte offset of the '/' header
    line_bytes: tuple[int, ...]  # byte offset of each of its lines
    index: int  # 0-based order among the telegrams (truncated ones included)
    received_at: datetime | None
    ascii_only: bool = True


class TelegramFramer:
    """Feed bytes as they arrive; get back complete telegrams and issues, in stream order.

    ``clock`` gives the receive time of a telegram when its last line arrives (live sources);
    with ``directives`` the ``# received`` lines of a capture file give it instead.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        directives: bool = False,
    ) -> None:
        self._clock = clock
        self._directives = directives
        self._partial = bytearray()
        self._partial_start = 0
        self._offset = 0  # byte offset of the next byte fed
        self._line_no = 0  # lines completed so far
        self._lines: list[str] = []
        self._line_bytes: list[int] = []
        self._ascii = True
        self._start_line = 0
        self._in_telegram = False
        self._in_garbage = False
        self._received: datetime | None = None
        self._index = 0
        self._overlong = False  # skipping the rest of a line longer than MAX_LINE_BYTES

    def feed(self, data: bytes) -> list[RawTelegram | Issue]:
        out: list[RawTelegram | Issue] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if self._overlong:
                if nl < 0:
                    break
                self._overlong = False
                self._line_no += 1
                start = nl + 1
                continue
            if nl < 0:
                if not self._partial:
                    self._partial_start = self._offset + start
                self._partial += data[start:]
                if len(self._partial) > MAX_LINE_BYTES:
                    self._skip_overlong(out)
                break
            if self._partial:
                line_start = self._partial_start
                raw = bytes(self._partial) + data[start : nl + 1]
                self._partial.clear()
            else:
                line_start = self._offset + start
                raw = data[start : nl + 1]
            self._line(raw, line_start, out)
            start = nl + 1
        self._offset += len(data)
        return out

    def _skip_overlong(self, out: list[RawTelegram | Issue]) -> None:
        """A line longer than any DSMR line: reported once, its bytes dropped until the newline
        (memory stays bounded on an endless line such as ``/dev/zero``)."""
        self._partial.clear()
        self._overlong = True
        if self._in_telegram:
            out.append(self._truncated(f"a line longer than {MAX_LINE_BYTES:,} bytes"))
        out.append(
            Issue(
                IssueKind.GARBAGE,
                f"a line longer than {MAX_LINE_BYTES:,} bytes skipped",
                self._line_no + 1,
                self._partial_start,
            )
        )
        self._in_garbage = True

    def close(self) -> list[RawTelegram | Issue]:
        """End of stream: a last line without newline is used, an open telegram is truncated."""
        out: list[RawTelegram | Issue] = []
        if self._partial:
            raw = bytes(self._partial)
            self._partial.clear()
            self._line(raw, self._partial_start, out)
        if self._in_telegram:
            out.append(self._truncated("the input ends inside it"))
        return out

    # -- one line -------------------------------------------------------------------------------

    def _line(self, raw: bytes, byte: int, out: list[RawTelegram | Issue]) -> None:
        self._line_no += 1
        content = raw.decode("latin-1").rstrip("\r\n")
        ascii_only = raw.isascii()
        if content.startswith("/"):
            if self._in_telegram:
                out.append(self._truncated("a new telegram starts before its '!' line"))
            self._begin(content, byte, ascii_only)
            return
        if self._in_telegram:
            if content.startswith("#"):
                out.append(self._truncated("a capture comment follows before its '!' line"))
                self._outside(content, byte, out)
                return
            self._lines.append(content)
            self._line_bytes.append(byte)
            self._ascii = self._ascii and ascii_only
            if content.startswith("!"):
                out.append(self._finish())
            return
        self._outside(content, byte, out)

    def _outside(self, content: str, byte: int, out: list[RawTelegram | Issue]) -> None:
        if content.startswith("#"):
            self._in_garbage = False
            if self._directives and content.startswith(RECEIVED_DIRECTIVE):
                value = content[len(RECEIVED_DIRECTIVE) :].strip()
                try:
                    ts = datetime.fromisoformat(value)
                    if ts.tzinfo is None:
                        raise ValueError("no time zone")
                except ValueError:
                    self._received = None
                    out.append(
                        Issue(
                            IssueKind.BAD_DIRECTIVE,
                            f"cannot read the receive time {value!r} (want ISO 8601 with Z)",
                            self._line_no,
                            byte,
                        )
                    )
                else:
                    self._received = ts
            return
        if not content.strip("\x00 \t"):
            return
        if not self._in_garbage:
            out.append(
                Issue(IssueKind.GARBAGE, "data outside a telegram ignored", self._line_no, byte)
            )
        self._in_garbage = True

    def _begin(self, content: str, byte: int, ascii_only: bool) -> None:
        self._in_telegram = True
        self._in_garbage = False
        self._lines = [content]
        self._line_bytes = [byte]
        self._ascii = ascii_only
        self._start_line = self._line_no

    def _truncated(self, why: str) -> Issue:
        issue = Issue(
            IssueKind.TRUNCATED,
            f"telegram truncated: {why}",
            self._start_line,
            self._line_bytes[0],
        )
        self._in_telegram = False
        self._received = None
        self._index += 1
        return issue

    def _finish(self) -> RawTelegram:
        received = self._received
        if received is None and self._clock is not None:
            received = self._clock()
        telegram = RawTelegram(
            text="".join(f"{line}\r\n" for line in self._lines),
            line=self._start_line,
            byte=self._line_bytes[0],
            line_bytes=tuple(self._line_bytes),
            index=self._index,
            received_at=received,
            ascii_only=self._ascii,
        )
        self._in_telegram = False
        self._received = None
        self._index += 1
        return telegram


def format_capture(text: str, received_at: datetime) -> str:
    """A telegram as a capture file holds it: the ``# received`` line, then the telegram."""
    stamp = received_at.isoformat().replace("+00:00", "Z")
    return f"{RECEIVED_DIRECTIVE}{stamp}\n{text}"
