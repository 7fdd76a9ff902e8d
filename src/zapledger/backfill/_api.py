"""``sync``: the backfill of every zappi of the hub (or one), in the library's range vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from ..exceptions import BadResponseError, UsageError
from ..localtime import check_range, today
from ..models import Resolution
from ..store import Store
from ._plan import default_since
from ._run import sync_zappi
from ._types import HistorySource, SyncSummary

__all__ = ["HubSource", "SyncReport", "sync"]


class HubSource(HistorySource, Protocol):
    """A history source that can also list the hub's zappis (a :class:`~zapledger.Client`)."""

    async def zappi_serials(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class SyncReport:
    """One summary per zappi synced; ``ok`` is false when any day of any of them failed."""

    summaries: tuple[SyncSummary, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.summaries)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summaries": [s.as_dict() for s in self.summaries]}


async def zappis_to_sync(client: HubSource, serial: str | None) -> list[str]:
    """``serial`` itself, or every zappi the hub reports (an error when it reports none)."""
    if serial is not None:
        return [serial]
    serials = await client.zappi_serials()
    if not serials:
        raise BadResponseError("the hub reports no zappi")
    return serials


async def sync(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    client: HubSource,
    serial: str | None = None,
    resolutions: Sequence[Resolution] = (Resolution.MINUTE, Resolution.HOUR),
    **options: Any,
) -> SyncReport:
    """Fetch and store the local days ``first_day``..``last_day`` that the store lacks.

    ``serial=None`` syncs every zappi of the hub. ``first_day=None`` starts at the first day
    ever synced of each zappi (complete days cost nothing, so this also finds the holes an
    interrupted run left); with nothing synced yet it is a :class:`UsageError`. ``last_day=None``
    is today. ``options`` go to :func:`sync_zappi` (``now``, ``dry_run``, ``on_event``, …).
    """
    if first_day is not None:
        check_range(first_day, last_day or max(first_day, today(tz, options.get("now"))))
    summaries = []
    for sn in await zappis_to_sync(client, serial):
        start = first_day or default_since(store, sn, resolutions)
        if start is None:
            raise UsageError(f"nothing synced yet for zappi {sn}: say which day to start from")
        summaries.append(
            await sync_zappi(client, store, sn, start, last_day, tz, resolutions, **options)
        )
    return SyncReport(tuple(summaries))
