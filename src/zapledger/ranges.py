"""The one date-range vocabulary of the library: local days ``first_day..last_day`` in a zone.

Every range function takes ``(store, first_day, last_day, tz, *, serial=None, …)``. ``None`` for
``last_day`` means today (in ``tz``); ``None`` for ``first_day`` means the usual window of the
period, never earlier than the first stored record (so a report of a new database does not
begin with years of empty rows). Days outside ``localtime.EARLIEST_DAY``..``LATEST_DAY`` and
backwards ranges are a :class:`~zapledger.exceptions.UsageError`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from .localtime import check_range, parse_tz, to_local, today
from .models import Period

if TYPE_CHECKING:
    from .store import Store

__all__ = ["first_stored_day", "period_start", "period_window_start", "resolve_range"]


def period_window_start(period: Period, last_day: date) -> date:
    """Where a range of ``period`` rows ending on ``last_day`` starts by default.

    An hour report shows one day, a day report its month, a month report its year, a year
    report three years.
    """
    if period is Period.HOUR:
        return last_day
    if period is Period.DAY:
        return last_day.replace(day=1)
    if period is Period.MONTH:
        return date(last_day.year, 1, 1)
    return date(last_day.year - 2, 1, 1)


def first_stored_day(store: Store, tz: str, *, serial: str | None = None) -> date | None:
    """The local day of the first stored history record (either resolution), if any."""
    first = store.first_record_time(serial)
    return None if first is None else to_local(first, parse_tz(tz)).date()


def resolve_range(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
    period: Period = Period.DAY,
    now: datetime | None = None,
) -> tuple[date, date]:
    """Fill in an open range (see the module docstring) and check it."""
    last = last_day if last_day is not None else today(tz, now)
    if first_day is not None:
        return check_range(first_day, last)
    first = period_window_start(period, last)
    stored = first_stored_day(store, tz, serial=serial)
    if stored is not None:
        # from the start of the first period that holds data, never before the window
        first = min(max(first, period_start(period, stored)), last)
    return check_range(first, last)


def period_start(period: Period, day: date) -> date:
    """The first day of the ``period`` that ``day`` falls in (an hour's or a day's: ``day``)."""
    if period is Period.MONTH:
        return day.replace(day=1)
    if period is Period.YEAR:
        return date(day.year, 1, 1)
    return day
