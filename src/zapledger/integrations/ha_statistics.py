"""The stored hourly balance as Home Assistant long-term statistics (for its Energy dashboard).

One external statistic per quantity and zappi (``zapledger:grid_import_<serial>``, ...), imported
over the websocket API with ``recorder/import_statistics``. Why it is built this way:

- Only hours that are complete and final are sent; the import stops before the first hour that is
  not final yet (it may still change), and hours that stay without data are left out, never sent as
  zeros (a zero hour would show as a spike or a dip in the dashboard).
- ``sum`` is the running total in kWh, computed from integer joules and sent at full precision,
  so a later run recovers the exact joules from Home Assistant's last sum and continues from it:
  a rerun sends only the hours that are new. ``--from`` re-imports from a day, starting from the
  sum Home Assistant holds just before it, so the same hours get the same sums.
- ``sum`` never decreases: the house figure (derived, so an hour can be slightly negative) is the
  running maximum of its true total; the true total is recovered from the four sums it is made of.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..exceptions import UsageError
from ..localtime import local_day_window, to_local, today
from ..models import J_PER_KWH, Energy, Resolution
from ..report import SlotStatus, hourly_series
from ..store import Store
from .ha_ws import HaSession, ha_session

__all__ = [
    "QUANTITIES",
    "SOURCE",
    "HaImportReport",
    "Quantity",
    "StatisticImport",
    "collector_hook",
    "import_statistics",
    "keep_current",
    "metadata",
    "statistic_id",
]

SOURCE = "zapledger"
logger = logging.getLogger("zapledger.integrations.ha")
HOUR = timedelta(hours=1)
#: Hours per ``recorder/import_statistics`` command (a few hundred kB of JSON each).
CHUNK_HOURS = 1000
#: How far back from a point the search for Home Assistant's last hour looks, widening.
_LOOKBACK_DAYS = (2, 8, 32, 128, 512, 2048, 8192)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One statistic per zappi: its key, its name and its joules in an hour."""

    key: str
    label: str
    joules: Callable[[Energy], int]


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("grid_import", "grid import", lambda e: e.import_j),
    Quantity("grid_export", "grid export", lambda e: e.export_j),
    Quantity("generation", "generation", lambda e: e.generation_j),
    Quantity("ev_solar", "EV from solar", lambda e: e.diverted_j),
    Quantity("ev_grid", "EV from grid", lambda e: e.boosted_j),
    Quantity("ev_total", "EV total", lambda e: e.ev_j),
    Quantity("house", "house", lambda e: e.house_j),
)
#: house = generation + import - export - EV: the sums its true total is recovered from.
_HOUSE_PARTS = (("generation", 1), ("grid_import", 1), ("grid_export", -1), ("ev_total", -1))


def statistic_id(quantity: Quantity, serial: str) -> str:
    """An external statistic id: ``<source>:<object>``, lower case."""
    return f"{SOURCE}:{quantity.key}_{serial.lower()}"


def metadata(quantity: Quantity, serial: str) -> dict[str, Any]:
    """The complete metadata Home Assistant asks for (``mean_type`` 0: no mean)."""
    return {
        "statistic_id": statistic_id(quantity, serial),
        "source": SOURCE,
        "name": f"zappi {serial} {quantity.label}",
        "unit_of_measurement": "kWh",
        "has_sum": True,
        "has_mean": False,
        "mean_type": 0,
        "unit_class": "energy",
    }


@dataclass(frozen=True, slots=True)
class StatisticImport:
    """What was (or, in a dry run, would be) sent for one statistic."""

    statistic_id: str
    serial: str
    hours: int
    first_start: datetime | None = None
    last_start: datetime | None = None
    first_sum_kwh: float | None = None
    last_sum_kwh: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "statistic_id": self.statistic_id,
            "serial": self.serial,
            "hours": self.hours,
            "first_start": None if self.first_start is None else self.first_start.isoformat(),
            "last_start": None if self.last_start is None else self.last_start.isoformat(),
            "first_sum_kwh": self.first_sum_kwh,
            "last_sum_kwh": self.last_sum_kwh,
        }


@dataclass(frozen=True, slots=True)
class HaImportReport:
    """The outcome of one import: per statistic, plus the hours left out and why it stopped."""

    url: str | None
    dry_run: bool
    statistics: tuple[StatisticImport, ...]
    #: hours without complete data inside the span sent (left out, never sent as zeros)
    gap_hours: int = 0
    #: the first hour not sent because its data is not final yet (None: none in the range)
    not_final_from: datetime | None = None
    commands: int = 0
    notes: tuple[str, ...] = ()

    @property
    def hours(self) -> int:
        """Hours sent per statistic, summed over the zappis (each hour once, not per quantity)."""
        return sum(s.hours for s in self.statistics) // len(QUANTITIES)

    @property
    def up_to_date(self) -> bool:
        return all(s.hours == 0 for s in self.statistics)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dry_run": self.dry_run,
            "hours": self.hours,
            "up_to_date": self.up_to_date,
            "gap_hours": self.gap_hours,
            "not_final_from": None
            if self.not_final_from is None
            else self.not_final_from.isoformat(),
            "commands": self.commands,
            "notes": list(self.notes),
            "statistics": [s.as_dict() for s in self.statistics],
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """The rows of one zappi's statistics, ready to send."""

    serial: str
    rows: dict[str, list[dict[str, Any]]]
    gap_hours: int
    not_final_from: datetime | None


def _joules(kwh: float) -> int:
    return round(kwh * J_PER_KWH)


def _start_of(row: dict[str, Any]) -> datetime:
    """A row's ``start`` as Home Assistant answers it: epoch ms (newer) or ISO text (older)."""
    value = row["start"]
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def _stored_ids(session: HaSession) -> set[str]:
    listed = await session.command("recorder/list_statistic_ids", statistic_type="sum")
    return {str(item["statistic_id"]) for item in listed or ()}


async def _last_rows(
    session: HaSession, ids: Sequence[str], before: datetime
) -> dict[str, tuple[datetime, float]]:
    """Home Assistant's last hour (start, sum) of each id that holds one before ``before``."""
    found: dict[str, tuple[datetime, float]] = {}
    end = before
    for days in _LOOKBACK_DAYS:
        wanted = [i for i in ids if i not in found]
        if not wanted:
            break
        start = before - timedelta(days=days)
        answer = await session.command(
            "recorder/statistics_during_period",
            start_time=start.isoformat(),
            end_time=end.isoformat(),
            statistic_ids=wanted,
            period="hour",
            types=["sum"],
        )
        for sid, rows in (answer or {}).items():
            usable = [r for r in rows if r.get("sum") is not None]
            if sid in wanted and usable:
                last = max(usable, key=_start_of)
                found[sid] = (_start_of(last), float(last["sum"]))
        end = start
    return found


def _first_stored_hour(store: Store, serial: str) -> datetime | None:
    first = store.first_record_time(serial)
    return None if first is None else first.replace(minute=0, second=0, microsecond=0)


async def _start_and_bases(
    session: HaSession | None,
    store: Store,
    serial: str,
    first_day: date | None,
    tz: str,
    horizon: datetime,
) -> tuple[datetime | None, dict[str, int]]:
    """The first hour to send and each statistic's sum (joules) just before it."""
    ids = [statistic_id(q, serial) for q in QUANTITIES]
    if first_day is not None:
        start: datetime | None = local_day_window(first_day, tz, Resolution.HOUR)[0]
    else:
        start = _first_stored_hour(store, serial)
    if session is None or start is None:
        return start, {}
    if not set(ids) <= await _stored_ids(session):
        return start, {}  # a first import: everything, from 0
    if first_day is None:
        last = await _last_rows(session, ids, horizon)
        if len(last) == len(ids):
            start = min(at for at, _ in last.values()) + HOUR
    rows = await _last_rows(session, ids, start)
    return start, {sid: _joules(value) for sid, (_, value) in rows.items()}


def _plan(
    store: Store,
    serial: str,
    start: datetime,
    last_day: date,
    tz: str,
    bases_j: dict[str, int],
    now: datetime,
) -> _Plan:
    """The rows from ``start`` up to the last final hour, continuing from ``bases_j``."""
    rows: dict[str, list[dict[str, Any]]] = {statistic_id(q, serial): [] for q in QUANTITIES}
    first_day = to_local(start, tz).date()
    if first_day > last_day:
        return _Plan(serial, rows, 0, None)
    series = hourly_series(store, first_day, last_day, tz, serial=serial, now=now)
    sent: list[tuple[datetime, Energy]] = []
    gaps = pending = 0  # hours without complete data after the last one sent so far
    not_final: datetime | None = None
    for slot in series.slots:
        if slot.start < start:
            continue
        if slot.provisional or slot.status is SlotStatus.FUTURE:
            not_final = slot.start
            break
        if slot.complete:
            sent.append((slot.start, slot.energy))
            gaps, pending = gaps + pending, 0
        elif sent:
            pending += 1
    starts = [at.isoformat() for at, _ in sent]
    for q in QUANTITIES:
        sid = statistic_id(q, serial)
        shown = bases_j.get(sid, 0)
        true = _true_base(q, serial, bases_j, shown)
        out = rows[sid]
        joules = q.joules
        for at, (_, energy) in zip(starts, sent, strict=True):
            value = joules(energy)
            true += value
            shown = max(shown, true)
            out.append({"start": at, "state": value / J_PER_KWH, "sum": shown / J_PER_KWH})
    return _Plan(serial, rows, gaps, not_final)


def _true_base(quantity: Quantity, serial: str, bases_j: dict[str, int], shown: int) -> int:
    """The true running total before the first hour (house: from the sums it is made of)."""
    if quantity.key != "house":
        return shown
    parts = [(bases_j.get(f"{SOURCE}:{key}_{serial.lower()}"), sign) for key, sign in _HOUSE_PARTS]
    if any(value is None for value, _ in parts):
        return shown
    return sum(sign * (value or 0) for value, sign in parts)


def _summary(serial: str, sid: str, rows: list[dict[str, Any]]) -> StatisticImport:
    if not rows:
        return StatisticImport(sid, serial, 0)
    return StatisticImport(
        sid,
        serial,
        len(rows),
        datetime.fromisoformat(rows[0]["start"]),
        datetime.fromisoformat(rows[-1]["start"]),
        rows[0]["sum"],
        rows[-1]["sum"],
    )


async def _send(session: HaSession, plan: _Plan) -> int:
    commands = 0
    for q in QUANTITIES:
        sid = statistic_id(q, plan.serial)
        rows = plan.rows[sid]
        for i in range(0, len(rows), CHUNK_HOURS):
            await session.command(
                "recorder/import_statistics",
                metadata=metadata(q, plan.serial),
                stats=rows[i : i + CHUNK_HOURS],
            )
            commands += 1
    return commands


async def import_statistics(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    url: str | None,
    token: str | None,
    serial: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> HaImportReport:
    """Send the final hours of the local days ``first_day``..``last_day`` to Home Assistant.

    ``first_day=None`` continues after the last hour Home Assistant holds (from the first stored
    hour on a first import); ``last_day=None`` means today. ``serial=None``: every stored zappi.
    A dry run asks Home Assistant where to continue (when ``url`` and ``token`` are given) and
    sends nothing.
    """
    now = now or datetime.now(UTC)
    last = last_day if last_day is not None else today(tz, now)
    job = _Job(
        store,
        [serial] if serial is not None else store.zappi_serials(),
        first_day,
        last,
        tz,
        local_day_window(last, tz, Resolution.HOUR)[1],
        now,
        dry_run,
    )
    if not job.serials:
        job.notes.append("no zappi in the database: nothing to send")
    if url is None or token is None:
        if not dry_run:
            raise UsageError("a Home Assistant URL and token are needed unless dry_run")
        job.notes.append("Home Assistant not asked: as if it held none of these statistics")
        return await _run(None, job)
    async with ha_session(url, token) as session:
        return await _run(session, job)


@dataclass(slots=True)
class _Job:
    """The arguments of one import, resolved."""

    store: Store
    serials: Sequence[str]
    first_day: date | None
    last_day: date
    tz: str
    #: the end of the last day: where the search for Home Assistant's last hour starts
    horizon: datetime
    now: datetime
    dry_run: bool
    notes: list[str] = field(default_factory=list)


async def _run(session: HaSession | None, job: _Job) -> HaImportReport:
    summaries: list[StatisticImport] = []
    gaps = commands = 0
    not_final: datetime | None = None
    for sn in job.serials:
        start, bases = await _start_and_bases(
            session, job.store, sn, job.first_day, job.tz, job.horizon
        )
        if start is None:
            job.notes.append(f"{sn}: no history stored")
            continue
        plan = _plan(job.store, sn, start, job.last_day, job.tz, bases, job.now)
        gaps += plan.gap_hours
        if plan.not_final_from is not None:
            not_final = min(not_final or plan.not_final_from, plan.not_final_from)
        if session is not None and not job.dry_run:
            commands += await _send(session, plan)
        summaries.extend(_summary(sn, sid, rows) for sid, rows in plan.rows.items())
    return HaImportReport(
        None if session is None else session.url,
        job.dry_run,
        tuple(summaries),
        gaps,
        not_final,
        commands,
        tuple(job.notes),
    )


async def keep_current(
    store: Store, tz: str, *, url: str, token: str, serial: str | None = None
) -> HaImportReport:
    """Send what became final since the last run (the collector calls it after each hour)."""
    report = await import_statistics(store, None, None, tz, url=url, token=token, serial=serial)
    if not report.up_to_date:
        logger.info("Home Assistant statistics: %d new hour(s) sent to %s", report.hours, url)
    return report


def collector_hook(
    tz: str, *, url: str, token: str, serial: str | None = None
) -> Callable[[Store], Awaitable[HaImportReport]]:
    """:func:`keep_current` for the collector's ``after_hour`` (no repr shows the token)."""

    async def after_hour(store: Store) -> HaImportReport:
        return await keep_current(store, tz, url=url, token=token, serial=serial)

    return after_hour
