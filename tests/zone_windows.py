"""Local days as UTC windows, straight from the tz database: the tests' own reference.

Independent of ``zapledger.localtime`` (the code the library derives its windows with), so a
test that checks a window, a record count or a sum over a local day does not take the library's
word for where that day begins and ends. Valid for zones whose clocks never skip midnight.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def day_window(day: date, tz: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of the local day ``day`` in UTC (23, 24 or 25 hours long)."""
    return local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
