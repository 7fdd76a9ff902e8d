"""Shared pieces of decoding: JSON parsing, strict field readers, open enums, units."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from itertools import accumulate
from typing import Any, BinaryIO, Self

import msgspec

from ..exceptions import BadResponseError

J_PER_KWH = 3_600_000
#: Plausible ranges; values outside are flagged as suspect (garbage around gaps), never corrected.
VOLTAGE_PLAUSIBLE_V = (180.0, 280.0)
FREQUENCY_PLAUSIBLE_HZ = (45.0, 65.0)
#: Bounds of any JSON zapledger parses (cloud answers, ``zapledger decode``). Real payloads are
#: below 1 MB (a day of minutes) and 4 levels deep; anything far beyond is refused before parsing.
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")


def joules_to_kwh(energy_j: int | float) -> float:
    """The one conversion from joules to kWh."""
    return energy_j / J_PER_KWH


def _unknown_member(cls: Any, base: type[int] | type[str], value: object) -> Any:
    """A pseudo-member ``UNKNOWN_<value>`` of ``cls`` for a value of the right type, else None."""
    if not isinstance(value, base) or isinstance(value, bool):
        return None
    member = base.__new__(cls, value)
    member._name_ = f"UNKNOWN_{value}"
    member._value_ = value
    return member


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that keeps values it does not know as ``UNKNOWN_<n>`` pseudo-members."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        return _unknown_member(cls, int, value)  # type: ignore[no-any-return]

    @property
    def known(self) -> bool:
        return not self.name.startswith("UNKNOWN_")


class _OpenStrEnum(enum.StrEnum):
    """A StrEnum that keeps values it does not know as ``UNKNOWN_<value>`` pseudo-members."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        return _unknown_member(cls, str, value)  # type: ignore[no-any-return]

    @property
    def known(self) -> bool:
        return not self.name.startswith("UNKNOWN_")


class _Fields:
    """Reads one JSON object, turning wrong types into BadResponseError naming the field."""

    __slots__ = ("context", "obj")

    def __init__(self, obj: Mapping[str, Any], context: str) -> None:
        self.obj = obj
        self.context = context

    def _bad(self, key: str, expected: str) -> BadResponseError:
        value = self.obj.get(key)
        return BadResponseError(
            f"{self.context}: field {key!r} should be {expected}, got {type(value).__name__}"
        )

    def number(self, key: str) -> float | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number")
        return float(value)

    def integer(self, key: str) -> int | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise self._bad(key, "an integer")
            return int(value)
        return value

    def text(self, key: str) -> str | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._bad(key, "a string")
        return str(value)

    def flag(self, key: str) -> bool | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        raise self._bad(key, "a boolean")


def _enum_name(value: enum.Enum | None) -> str | None:
    return None if value is None else value.name.lower()


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _reject_html(data: bytes | str, endpoint: str) -> None:
    head = (data[:200] if isinstance(data, str) else data[:200].decode("latin-1")).lstrip().lower()
    if head.startswith(("<!doctype", "<html", "<?xml", "<head", "<body")):
        raise BadResponseError(
            f"{endpoint}: got an HTML page instead of JSON (a server error page?)",
            endpoint=endpoint,
        )


def json_depth(data: bytes, limit: int) -> int:
    """How deep brackets nest (strings ignored), counted without parsing; stops above ``limit``."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return limit  # cannot nest deeper: the common case of small payloads
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    brackets = outside_strings.translate(_SQUARE, _NOT_BRACKETS)
    peeled = 0  # innermost pairs are removed a level at a time, in C
    while peeled < limit and b"[]" in brackets:
        brackets = brackets.replace(b"[]", b"")
        peeled += 1
    depth = 0
    for depth in accumulate(1 if b == 0x5B else -1 for b in brackets):
        if depth + peeled > limit:
            break
    return depth + peeled


def read_limited(stream: BinaryIO, max_bytes: int, name: str) -> bytes:
    """Read a whole payload from a file or pipe, but never more than ``max_bytes`` (an endless
    stream such as ``/dev/zero`` ends in a BadResponseError naming the limit)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(min(1024 * 1024, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise BadResponseError(
                f"{name}: more than the limit of {max_bytes:,} bytes for a JSON payload "
                "(max_payload_bytes)",
                endpoint=name,
            )
    return b"".join(chunks)


def decode_json(
    data: bytes | str,
    *,
    endpoint: str = "response",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse JSON bytes, with a clear error for HTML error pages and truncated bodies.

    Size and nesting are checked before parsing, so a huge or deeply nested payload costs neither
    memory nor a RecursionError.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise BadResponseError(
            f"{endpoint}: {len(raw):,} bytes is over the limit of {max_bytes:,} bytes for a JSON "
            "payload",
            endpoint=endpoint,
        )
    _reject_html(raw, endpoint)
    if json_depth(raw, max_depth) > max_depth:
        raise BadResponseError(
            f"{endpoint}: JSON nested deeper than the limit of {max_depth} levels",
            endpoint=endpoint,
        )
    data = raw
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise BadResponseError(f"{endpoint}: malformed JSON ({exc})", endpoint=endpoint) from None
