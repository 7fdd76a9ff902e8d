"""Decoding a saved payload whose kind (status, minute or hour history) is not known."""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import BadResponseError
from ._enums import Resolution
from ._history import History, parse_history
from ._status import SiteStatus, parse_status
from ._wire import MAX_JSON_BYTES, decode_json

__all__ = ["decode_any"]


def decode_any(
    data: bytes | str, *, name: str = "payload", max_bytes: int = MAX_JSON_BYTES
) -> SiteStatus | History:
    """Decode a saved jstatus / jday / jdayhour payload, recognising which it is.

    The file name decides when it says ``jdayhour`` or ``jday``; otherwise a history whose records
    carry minutes (or more than 25 records) is per-minute, else per-hour.
    """
    payload = decode_json(data, endpoint=name, max_bytes=max_bytes)
    is_history = (
        isinstance(payload, Mapping) and len(payload) == 1 and next(iter(payload)).startswith("U")
    )
    if not is_history:
        return parse_status(payload)
    if "jdayhour" in name:
        resolution = Resolution.HOUR
    elif "jday" in name:
        resolution = Resolution.MINUTE
    else:
        records = next(iter(payload.values()))
        per_minute = isinstance(records, list) and (
            len(records) > 25 or any(isinstance(r, Mapping) and r.get("min") for r in records)
        )
        resolution = Resolution.MINUTE if per_minute else Resolution.HOUR
    try:
        return parse_history(payload, resolution)
    except BadResponseError as exc:
        raise BadResponseError(f"{name}: {exc}", endpoint=name) from None
