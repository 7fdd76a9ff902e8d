"""The energy balance of stored history: tables, charts, an HTML page and exports.

Reads the store only, never the network. Inside, energy is integer joules and time aware UTC;
kWh and local time appear at the edges (``joules_to_kwh``, ``localtime.to_local``). matplotlib,
jinja2 and pyarrow are imported only by the functions that need them.

>>> report = balance(store, date(2024, 3, 1), date(2024, 3, 31), "Europe/London", period="day")
>>> write_html_report(store, date(2024, 3, 1), date(2024, 3, 31), "Europe/London", out_dir="out")
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ._balance import BalanceReport, PeriodBalance, aggregate, balance, period_spans
from ._charts import Chart, DrawnSeries
from ._claim import Claim, SessionCost, cost_sessions, reimbursement, write_claim
from ._export import EXPORT_COLUMNS, export_rows, write_export
from ._series import (
    Coverage,
    HourlySeries,
    HourSlot,
    SlotStatus,
    hourly_series,
    merge_hours,
)

if TYPE_CHECKING:
    from ..store import Store
    from ..tariffs import Tariffs

__all__ = [
    "EXPORT_COLUMNS",
    "BalanceReport",
    "Chart",
    "Claim",
    "Coverage",
    "DrawnSeries",
    "HourSlot",
    "HourlySeries",
    "PeriodBalance",
    "SessionCost",
    "SlotStatus",
    "aggregate",
    "balance",
    "charts_of_day",
    "charts_of_month",
    "charts_of_year",
    "cost_sessions",
    "export_rows",
    "hourly_series",
    "merge_hours",
    "period_spans",
    "reimbursement",
    "save_charts",
    "write_claim",
    "write_export",
    "write_html_report",
]


def write_html_report(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    out_dir: Path | str,
    serial: str | None = None,
    now: datetime | None = None,
    force: bool = False,
    tariffs: Tariffs | None = None,
) -> Path:
    """Write the self-contained HTML report of the local days ``first_day``..``last_day``; an
    existing page is refused (OutputError) unless ``force``. With ``tariffs`` it has a cost
    section."""
    from ._html import write_html_report as _write

    return _write(
        store,
        first_day,
        last_day,
        tz,
        out_dir=out_dir,
        serial=serial,
        now=now,
        force=force,
        tariffs=tariffs,
    )


def charts_of_day(
    store: Store, day: date, tz: str, *, serial: str | None = None, now: datetime | None = None
) -> list[Chart]:
    """The balance per local hour of one day. Each :class:`Chart` carries its PNG and the series
    it drew (``chart.drawn("house")``), read back from the picture's artists."""
    from ._charts import day_chart

    series = hourly_series(store, day, day, tz, serial=serial, now=now)
    return [day_chart(series, day, tz)]


def charts_of_month(
    store: Store,
    year: int,
    month: int,
    tz: str,
    *,
    serial: str | None = None,
    now: datetime | None = None,
    kinds: Collection[str] | None = None,
) -> list[Chart]:
    """The balance per day of a month (kind ``month``) and its average daily profile
    (``profile``); ``kinds`` limits which are drawn."""
    from ._charts import month_chart, profile_chart

    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    series = hourly_series(store, first, last, tz, serial=serial, now=now)
    charts = []
    if _wanted("month", kinds):
        charts.append(month_chart(series, year, month, tz))
    if _wanted("profile", kinds):
        charts.append(profile_chart(series, [(year, month)], tz))
    return charts


def charts_of_year(
    store: Store,
    year: int,
    tz: str,
    *,
    serial: str | None = None,
    years: int = 3,
    now: datetime | None = None,
    kinds: Collection[str] | None = None,
) -> list[Chart]:
    """All charts of a year (15 PNGs): per month (kind ``year``), per day of each month
    (``month``), the daily profile of every month (``profile``) and the monthly totals of
    ``years`` years up to this one side by side (``years``); ``kinds`` limits which are drawn."""
    from ._charts import month_chart, profile_chart, year_chart, years_chart

    now = now or datetime.now(UTC)
    first_year = year - max(1, years) + 1 if _wanted("years", kinds) else year
    series = hourly_series(
        store, date(first_year, 1, 1), date(year, 12, 31), tz, serial=serial, now=now
    )
    charts = []
    if _wanted("year", kinds):
        charts.append(year_chart(series, year, tz))
    if _wanted("month", kinds):
        charts += [month_chart(series, year, m, tz) for m in range(1, 13)]
    if _wanted("profile", kinds):
        months = [(year, m) for m in range(1, 13)]
        charts.append(profile_chart(series, months, tz, name=f"profile-{year:04d}"))
    if years > 1 and _wanted("years", kinds):
        charts.append(years_chart(series, list(range(first_year, year + 1)), tz))
    return charts


def _wanted(kind: str, kinds: Collection[str] | None) -> bool:
    return kinds is None or kind in kinds


def save_charts(charts: Sequence[Chart], out_dir: Path | str, *, force: bool = False) -> list[Path]:
    """Write each chart as ``<name>.png`` into ``out_dir`` (created); returns the paths.

    Existing files are refused (OutputError, before anything is written) unless ``force``.
    """
    from ..outputs import claim, output_file, prepare_dir

    folder = Path(out_dir)
    paths = [folder / f"{chart.name}.png" for chart in charts]
    claim(paths, force=force)
    prepare_dir(folder)
    for chart, path in zip(charts, paths, strict=True):
        with output_file(path, force=force) as fh:
            fh.write(chart.png)
    return paths
