"""A stand-in for Home Assistant's websocket API on loopback: auth, ids, results, statistics.

Written from ``shared/reference/home-assistant.md`` without zapledger's code. It follows the
protocol (``auth_required``, ``auth`` -> ``auth_ok``/``auth_invalid``, increasing ids, one
``result`` per command with ``success``) and the validation rules of long-term statistics: a
``start`` must be timezone-aware and exactly on the hour, the metadata complete, an external id
``<domain>:<object>`` with ``source`` equal to the domain, and ``sum`` must never decrease
across the stored series. A re-import with the same ``start`` replaces that hour. It answers
``recorder/list_statistic_ids`` and ``recorder/statistics_during_period`` (period ``hour``,
``start``/``end`` in epoch milliseconds, as newer Home Assistant versions do).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

TOKEN = "ha-test-token-0123456789abcdef"
METADATA_KEYS = (
    "statistic_id",
    "source",
    "name",
    "unit_of_measurement",
    "has_sum",
    "has_mean",
    "mean_type",
    "unit_class",
)
_EXTERNAL_ID = re.compile(r"^([a-z0-9_]+):([a-z0-9_]+)$")
#: the stand-in's own frame log stays quiet, so a test of the client's logging sees the client's
_server_logger = logging.getLogger("tests.ha_server")
_server_logger.setLevel(logging.WARNING)


class Rejected(Exception):
    """A command that Home Assistant would answer with ``success: false``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Statistic:
    metadata: dict[str, Any]
    #: epoch seconds of the hour start -> (state, sum)
    rows: dict[int, tuple[float, float]] = field(default_factory=dict)


@dataclass
class FakeHomeAssistant:
    """The server's state; the test thread reads it while the server thread writes it."""

    token: str = TOKEN
    url: str = ""
    statistics: dict[str, Statistic] = field(default_factory=dict)
    #: every command received after auth: (type, statistic_id or None, number of stats)
    commands: list[tuple[str, str | None, int]] = field(default_factory=list)
    auth_refused: int = 0
    #: answer ``start``/``end`` as ISO text, as versions before 2023.3 did
    iso_starts: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def imports(self) -> list[tuple[str, str | None, int]]:
        with self.lock:
            return [c for c in self.commands if c[0] == "recorder/import_statistics"]

    def rows(self, statistic_id: str) -> list[tuple[datetime, float, float]]:
        """(start, state, sum) of one statistic in time order."""
        with self.lock:
            stat = self.statistics[statistic_id]
            return [
                (datetime.fromtimestamp(ts, UTC), state, total)
                for ts, (state, total) in sorted(stat.rows.items())
            ]

    # --- the commands ----------------------------------------------------------------------

    def import_statistics(self, message: dict[str, Any]) -> None:
        meta = message.get("metadata")
        stats = message.get("stats")
        if not isinstance(meta, dict) or not isinstance(stats, list):
            raise Rejected("invalid_format", "metadata and stats are required")
        missing = [k for k in METADATA_KEYS if k not in meta]
        if missing:
            raise Rejected("invalid_format", f"metadata lacks {', '.join(missing)}")
        match = _EXTERNAL_ID.match(str(meta["statistic_id"]))
        if match is None:
            raise Rejected("invalid_format", f"invalid statistic_id {meta['statistic_id']}")
        if meta["source"] != match.group(1):
            raise Rejected("invalid_format", "source must equal the statistic_id's domain")
        if meta["has_sum"] is not True or meta["unit_class"] != "energy":
            raise Rejected("invalid_format", "an energy statistic needs has_sum and unit_class")
        if meta["unit_of_measurement"] not in ("kWh", "Wh"):
            raise Rejected("invalid_format", "unit must be kWh or Wh")
        new: dict[int, tuple[float, float]] = {}
        for item in stats:
            start = _parse_start(item.get("start"))
            total, state = item.get("sum"), item.get("state")
            if not isinstance(total, int | float) or not isinstance(state, int | float | None):
                raise Rejected("invalid_format", "sum and state must be numbers")
            new[int(start.timestamp())] = (float(state or 0.0), float(total))
        with self.lock:
            stat = self.statistics.get(meta["statistic_id"])
            merged = dict(stat.rows) if stat is not None else {}
            merged.update(new)
            _check_never_decreases(merged, new)
            self.statistics[meta["statistic_id"]] = Statistic(dict(meta), merged)

    def list_statistic_ids(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("statistic_type")
        with self.lock:
            out = []
            for sid, stat in self.statistics.items():
                if kind == "mean" or (kind == "sum" and not stat.metadata["has_sum"]):
                    continue
                out.append(
                    {
                        "statistic_id": sid,
                        "display_unit_of_measurement": stat.metadata["unit_of_measurement"],
                        "has_mean": stat.metadata["has_mean"],
                        "mean_type": stat.metadata["mean_type"],
                        "has_sum": stat.metadata["has_sum"],
                        "name": stat.metadata["name"],
                        "source": stat.metadata["source"],
                        "statistics_unit_of_measurement": stat.metadata["unit_of_measurement"],
                        "unit_class": stat.metadata["unit_class"],
                    }
                )
            return out

    def statistics_during_period(self, message: dict[str, Any]) -> dict[str, list[Any]]:
        if message.get("period") != "hour":
            raise Rejected("invalid_format", "this stand-in keeps hours only")
        start = int(_parse_time(message.get("start_time")).timestamp())
        end_time = message.get("end_time")
        end = int(_parse_time(end_time).timestamp()) if end_time is not None else 2**62
        types = set(message.get("types") or ("sum", "state"))
        out: dict[str, list[Any]] = {}
        with self.lock:
            for sid in message.get("statistic_ids") or list(self.statistics):
                stat = self.statistics.get(sid)
                if stat is None:
                    continue
                rows = []
                for ts in sorted(t for t in stat.rows if start <= t < end):
                    state, total = stat.rows[ts]
                    row: dict[str, Any] = {"start": ts * 1000, "end": (ts + 3600) * 1000}
                    if self.iso_starts:
                        row["start"] = datetime.fromtimestamp(ts, UTC).isoformat()
                        row["end"] = datetime.fromtimestamp(ts + 3600, UTC).isoformat()
                    if "sum" in types:
                        row["sum"] = total
                    if "state" in types:
                        row["state"] = state
                    rows.append(row)
                if rows:
                    out[sid] = rows
        return out


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Rejected("invalid_format", f"not a time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected("invalid_format", f"not a time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _parse_start(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Rejected("invalid_format", f"start is not an ISO time: {value!r}")
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected("invalid_format", f"start is not an ISO time: {value!r}") from None
    if start.tzinfo is None or start.utcoffset() is None:
        raise Rejected("invalid_format", f"start {value} has no time zone")
    if (start.minute, start.second, start.microsecond) != (0, 0, 0):
        raise Rejected("invalid_format", f"start {value} is not on the hour")
    return start


def _check_never_decreases(merged: dict[int, tuple[float, float]], new: dict[int, Any]) -> None:
    """Over the merged series: each new hour against its neighbours."""
    starts = sorted(merged)
    for ts in new:
        i = bisect.bisect_left(starts, ts)
        here = merged[ts][1]
        if i > 0 and merged[starts[i - 1]][1] > here:
            moment = datetime.fromtimestamp(ts, UTC)
            raise Rejected("invalid_format", f"sum decreases at {moment.isoformat()}")
        if i + 1 < len(starts) and merged[starts[i + 1]][1] < here:
            moment = datetime.fromtimestamp(starts[i + 1], UTC)
            raise Rejected("invalid_format", f"sum decreases at {moment.isoformat()}")


# --- the protocol ----------------------------------------------------------------------------


async def _session(ha: FakeHomeAssistant, ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "auth_required", "ha_version": "2025.11.0"}))
    auth = json.loads(await ws.recv())
    if auth.get("type") != "auth" or auth.get("access_token") != ha.token:
        with ha.lock:
            ha.auth_refused += 1
        await ws.send(json.dumps({"type": "auth_invalid", "message": "Invalid access token"}))
        await ws.close()
        return
    await ws.send(json.dumps({"type": "auth_ok", "ha_version": "2025.11.0"}))
    last_id = 0
    handlers = {
        "recorder/import_statistics": ha.import_statistics,
        "recorder/list_statistic_ids": ha.list_statistic_ids,
        "recorder/statistics_during_period": ha.statistics_during_period,
    }
    async for raw in ws:
        message = json.loads(raw)
        ident = message.get("id")
        kind = message.get("type")
        answer: dict[str, Any] = {"id": ident, "type": "result"}
        meta = message.get("metadata")
        sid = meta.get("statistic_id") if isinstance(meta, dict) else None
        with ha.lock:
            ha.commands.append((str(kind), sid, len(message.get("stats") or ())))
        try:
            if not isinstance(ident, int) or ident <= last_id:
                raise Rejected("id_reuse", "Identifier values have to increase.")
            last_id = ident
            handler = handlers.get(str(kind))
            if handler is None:
                raise Rejected("unknown_command", f"Unknown command {kind}")
            answer |= {"success": True, "result": handler(message)}
        except Rejected as exc:
            answer |= {"success": False, "error": {"code": exc.code, "message": str(exc)}}
        await ws.send(json.dumps(answer))


@pytest.fixture
def ha_server() -> Iterator[FakeHomeAssistant]:
    """A fresh stand-in Home Assistant on 127.0.0.1, served from its own thread."""
    ha = FakeHomeAssistant()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] = loop.create_future()

    async def main() -> None:
        async with serve(
            lambda ws: _session(ha, ws), "127.0.0.1", 0, max_size=None, logger=_server_logger
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            ha.url = f"ws://127.0.0.1:{port}/api/websocket"
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the stand-in Home Assistant did not start"
    try:
        yield ha
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
        loop.close()
