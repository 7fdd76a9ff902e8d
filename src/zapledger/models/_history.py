"""Decoding of energy history (``cgi-jday``/``cgi-jdayhour``): joules per minute or hour."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..exceptions import BadResponseError
from ._energy import Energy
from ._enums import Resolution
from ._wire import FREQUENCY_PLAUSIBLE_HZ, VOLTAGE_PLAUSIBLE_V, _iso, _reject_html


class _WireRecord(msgspec.Struct, gc=False):
    """One history record as it travels; keys with value 0 are omitted, so every default is 0."""

    yr: int
    mon: int
    dom: int
    hr: int = 0
    min: int = 0
    imp: int = 0
    exp: int = 0
    gep: int = 0
    gen: int = 0
    h1d: int = 0
    h2d: int = 0
    h3d: int = 0
    h1b: int = 0
    h2b: int = 0
    h3b: int = 0
    pect1: int = 0
    pect2: int = 0
    pect3: int = 0
    nect1: int = 0
    nect2: int = 0
    nect3: int = 0
    v1: float | None = None
    frq: float | None = None


class HistoryRecord(msgspec.Struct, frozen=True, gc=False):
    """Energy of one minute or hour, starting at ``timestamp`` (aware UTC), in integer joules."""

    timestamp: datetime
    duration_s: int
    import_j: int = 0
    export_j: int = 0
    generation_j: int = 0
    generation_negative_j: int = 0
    diverted_h1_j: int = 0
    diverted_h2_j: int = 0
    diverted_h3_j: int = 0
    boosted_h1_j: int = 0
    boosted_h2_j: int = 0
    boosted_h3_j: int = 0
    ct1_positive_j: int = 0
    ct2_positive_j: int = 0
    ct3_positive_j: int = 0
    ct1_negative_j: int = 0
    ct2_negative_j: int = 0
    ct3_negative_j: int = 0
    voltage_v: float | None = None
    frequency_hz: float | None = None

    @property
    def diverted_j(self) -> int:
        """Surplus (solar) energy into the EV, all phases/devices."""
        return self.diverted_h1_j + self.diverted_h2_j + self.diverted_h3_j

    @property
    def boosted_j(self) -> int:
        """Grid energy boosted into the EV on purpose, all phases/devices."""
        return self.boosted_h1_j + self.boosted_h2_j + self.boosted_h3_j

    @property
    def energy(self) -> Energy:
        """The record's energy in the one type reports and the store sum."""
        return Energy(
            self.import_j,
            self.export_j,
            self.generation_j,
            self.generation_negative_j,
            self.diverted_j,
            self.boosted_j,
        )

    @property
    def voltage_suspect(self) -> bool:
        lo, hi = VOLTAGE_PLAUSIBLE_V
        return self.voltage_v is not None and not lo <= self.voltage_v <= hi

    @property
    def frequency_suspect(self) -> bool:
        lo, hi = FREQUENCY_PLAUSIBLE_HZ
        return self.frequency_hz is not None and not lo <= self.frequency_hz <= hi

    def mean_power_w(self, energy_j: int) -> float:
        """Mean power over this record's period of one of its energies."""
        return energy_j / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "timestamp": _iso(self.timestamp),
            "duration_s": self.duration_s,
            "import_j": self.import_j,
            "export_j": self.export_j,
            "generation_j": self.generation_j,
            "generation_negative_j": self.generation_negative_j,
            "diverted_j": self.diverted_j,
            "boosted_j": self.boosted_j,
            "diverted_h1_j": self.diverted_h1_j,
            "diverted_h2_j": self.diverted_h2_j,
            "diverted_h3_j": self.diverted_h3_j,
            "boosted_h1_j": self.boosted_h1_j,
            "boosted_h2_j": self.boosted_h2_j,
            "boosted_h3_j": self.boosted_h3_j,
            "ct1_positive_j": self.ct1_positive_j,
            "ct2_positive_j": self.ct2_positive_j,
            "ct3_positive_j": self.ct3_positive_j,
            "ct1_negative_j": self.ct1_negative_j,
            "ct2_negative_j": self.ct2_negative_j,
            "ct3_negative_j": self.ct3_negative_j,
            "voltage_v": self.voltage_v,
            "frequency_hz": self.frequency_hz,
            "voltage_suspect": self.voltage_suspect,
            "frequency_suspect": self.frequency_suspect,
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """Periods with no record: ``start`` inclusive, ``end`` exclusive (aware UTC)."""

    start: datetime
    end: datetime
    missing: int


@dataclass(frozen=True, slots=True)
class History:
    """Decoded history: records sorted and unique by timestamp, with what decoding noticed."""

    serial: str
    resolution: Resolution
    records: tuple[HistoryRecord, ...]
    duplicates_dropped: int = 0
    outside_window: int = 0
    gaps: tuple[Gap, ...] = ()

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self.gaps)

    @property
    def suspect(self) -> int:
        """Records whose voltage or frequency is implausible."""
        return sum(1 for r in self.records if r.voltage_suspect or r.frequency_suspect)

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "resolution": self.resolution.value,
            "duplicates_dropped": self.duplicates_dropped,
            "outside_window": self.outside_window,
            "gaps": [
                {"start": _iso(g.start), "end": _iso(g.end), "missing": g.missing}
                for g in self.gaps
            ],
            "records": [r.as_dict() for r in self.records],
        }


_HISTORY_DECODER = msgspec.json.Decoder(dict[str, list[_WireRecord]])


def _to_record(w: _WireRecord, duration_s: int) -> HistoryRecord:
    return HistoryRecord(
        datetime(w.yr, w.mon, w.dom, w.hr, w.min, tzinfo=UTC),
        duration_s,
        w.imp,
        w.exp,
        w.gep,
        w.gen,
        w.h1d,
        w.h2d,
        w.h3d,
        w.h1b,
        w.h2b,
        w.h3b,
        w.pect1,
        w.pect2,
        w.pect3,
        w.nect1,
        w.nect2,
        w.nect3,
        None if w.v1 is None else w.v1 / 10,
        None if w.frq is None else w.frq / 100,
    )


def find_gaps(
    timestamps: Sequence[datetime], start: datetime, end: datetime, step_s: int
) -> tuple[Gap, ...]:
    """Missing periods in ``[start, end)`` given the sorted, unique timestamps present."""
    step = timedelta(seconds=step_s)
    gaps: list[Gap] = []
    expected = start
    for ts in timestamps:
        if ts < start or ts >= end:
            continue
        if ts > expected:
            gaps.append(Gap(expected, ts, int((ts - expected) / step)))
        expected = ts + step
    if expected < end:
        gaps.append(Gap(expected, end, int((end - expected) / step)))
    return tuple(gaps)


def build_history(
    serial: str,
    resolution: Resolution,
    wire: Iterable[_WireRecord],
    window: tuple[datetime, datetime] | None = None,
) -> History:
    """Sort, deduplicate (last one wins) and window records, and report the gaps."""
    step = resolution.seconds
    by_ts: dict[datetime, HistoryRecord] = {}
    count = 0
    try:
        for w in wire:
            count += 1
            rec = _to_record(w, step)
            by_ts[rec.timestamp] = rec
    except (ValueError, OverflowError) as exc:
        raise BadResponseError(f"{resolution.value} history for {serial}: {exc}") from None
    duplicates = count - len(by_ts)
    records = sorted(by_ts.values(), key=lambda r: r.timestamp)
    outside = 0
    gaps: tuple[Gap, ...] = ()
    if window is not None:
        start, end = window
        kept = [r for r in records if start <= r.timestamp < end]
        outside = len(records) - len(kept)
        records = kept
        gaps = find_gaps([r.timestamp for r in records], start, end, step)
    elif records:
        gaps = find_gaps(
            [r.timestamp for r in records],
            records[0].timestamp,
            records[-1].timestamp + timedelta(seconds=step),
            step,
        )
    return History(serial, resolution, tuple(records), duplicates, outside, gaps)


def _envelope(serial_hint: str | None, envelope: Mapping[str, Any]) -> tuple[str, Any]:
    if len(envelope) != 1:
        keys = ", ".join(sorted(envelope)) or "none"
        raise BadResponseError(f"history should have one 'U<serial>' key, got: {keys}")
    ((key, value),) = envelope.items()
    if not key.startswith("U"):
        raise BadResponseError(f"history envelope key {key!r} should start with 'U'")
    serial = key[1:] or (serial_hint or "")
    return serial, value


def decode_history(
    data: bytes | str,
    resolution: Resolution,
    *,
    window: tuple[datetime, datetime] | None = None,
    endpoint: str = "history",
) -> History:
    """Decode the bytes of a ``cgi-jday``/``cgi-jdayhour`` answer (the fast path)."""
    _reject_html(data, endpoint)
    try:
        envelope = _HISTORY_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise BadResponseError(
            f"{endpoint}: not a history payload ({exc})", endpoint=endpoint
        ) from None
    serial, records = _envelope(None, envelope)
    try:
        return build_history(serial, resolution, records, window)
    except BadResponseError as exc:
        raise BadResponseError(f"{endpoint}: {exc}", endpoint=endpoint) from None


def parse_history(
    payload: Any, resolution: Resolution, *, window: tuple[datetime, datetime] | None = None
) -> History:
    """Decode an already-parsed history payload (a dict)."""
    if not isinstance(payload, Mapping):
        raise BadResponseError(f"history should be an object, got {type(payload).__name__}")
    serial, value = _envelope(None, payload)
    try:
        records = msgspec.convert(value, list[_WireRecord])
    except msgspec.ValidationError as exc:
        raise BadResponseError(f"history for {serial}: {exc}") from None
    return build_history(serial, resolution, records, window)
