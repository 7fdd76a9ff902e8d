"""One self-contained HTML page of the balance: tables, embedded charts, data-quality notes.

The page loads nothing from anywhere: styles and a tiny script are inline, charts are PNGs in
``data:`` URLs, and a Content-Security-Policy forbids every other source. The script marks the
page with ``data-images-loaded`` once every chart image has decoded, for headless checks.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..models import Period, joules_to_kwh
from ..ranges import resolve_range
from ..store import Store
from ._balance import BalanceReport, aggregate
from ._charts import (
    Chart,
    day_chart,
    days_chart,
    months_chart,
    profile_chart,
    session_share_chart,
    years_chart,
)
from ._series import HourlySeries, SlotStatus, hourly_series

if TYPE_CHECKING:
    from ..tariffs import Tariffs

__all__ = ["ReportPage", "build_report_page", "render_html", "write_html_report"]

#: Ranges up to this many days get a row and a bar per day; longer ones per month.
DAILY_MAX_DAYS = 62
#: The profile chart shows at most this many months (the last ones of the range).
PROFILE_MAX_MONTHS = 12


@dataclass(frozen=True, slots=True)
class ReportPage:
    """Everything the page shows, before rendering."""

    report: BalanceReport
    total_by_source: dict[str, int]
    charts: tuple[Chart, ...]
    reconciliation: Any
    reconciliation_note: str | None
    generated_at: datetime
    reconciliation_chart: bytes | None = None
    #: ``SessionReport.as_dict()`` of the EV charge sessions, and the chart of their solar share
    sessions: dict[str, Any] | None = None
    sessions_chart: Chart | None = None


def _months(first: date, last: date) -> list[tuple[int, int]]:
    months: list[tuple[int, int]] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _last_day_with_data(series: HourlySeries, first: date, last: date, tz: str) -> date | None:
    """The latest complete day of the range, else the latest with any data."""
    days = aggregate(series, Period.DAY, first, last, tz).rows
    for r in reversed(days):
        if r.coverage.complete:
            return date.fromisoformat(r.label)
    for r in reversed(days):
        if r.coverage.has_data:
            return date.fromisoformat(r.label)
    return None


def _charts(series: HourlySeries, first: date, last: date, tz: str) -> list[Chart]:
    charts: list[Chart] = []
    span = (last - first).days + 1
    if span <= DAILY_MAX_DAYS:
        charts.append(days_chart(series, first, last, tz))
        day = _last_day_with_data(series, first, last, tz)
        if day is not None:
            charts.append(day_chart(series, day, tz))
    else:
        charts.append(months_chart(series, first, last, tz))
        years = list(range(first.year, last.year + 1))
        if len(years) > 1:
            charts.append(years_chart(series, years, tz))
    months = _months(first, last)[-PROFILE_MAX_MONTHS:]
    charts.append(profile_chart(series, months, tz))
    return charts


def _reconciliation(
    store: Store, serial: str | None, first: date, last: date, tz: str
) -> tuple[Any, str | None, bytes | None]:
    """The meter reconciliation when meter data exists: its summary (``as_dict()``), a note when
    the readings don't cover these days, and its chart as PNG bytes."""
    if not store.meters():
        return None, None, None
    from ..reconciliation import reconcile_summary, render_chart

    result = reconcile_summary(store, first, last, tz, serial=serial)
    if not result.summaries:
        return None, "Meter readings exist, but none cover these days.", None
    with tempfile.TemporaryDirectory(prefix="zapledger-") as tmp:
        chart = render_chart(result, Path(tmp) / "reconcile.png").read_bytes()
    return result.as_dict(), None, chart


def build_report_page(
    store: Store,
    first_day: date | None,
    last_day: date | None,
    tz: str,
    *,
    serial: str | None = None,
    now: datetime | None = None,
    tariffs: Tariffs | None = None,
) -> ReportPage:
    """Compute the tables and charts of the page from the store (one series of hours); with
    ``tariffs``, the cost section and its chart too."""
    now = now or datetime.now(UTC)
    first_day, last_day = resolve_range(store, first_day, last_day, tz, serial=serial, now=now)
    series = hourly_series(store, first_day, last_day, tz, serial=serial, now=now)
    period = Period.DAY if (last_day - first_day).days < DAILY_MAX_DAYS else Period.MONTH
    report = aggregate(series, period, first_day, last_day, tz, serial=serial)
    by_source = {status.value: 0 for status in SlotStatus}
    for slot in series.slots:
        by_source[slot.status.value] += 1
    recon, recon_note, recon_chart = _reconciliation(store, serial, first_day, last_day, tz)
    charts = _charts(series, first_day, last_day, tz)
    if tariffs is not None:
        report, cost_chart = _with_cost(store, series, report, tz, tariffs, serial)
        charts.append(cost_chart)
    sessions, sessions_chart = _sessions(store, first_day, last_day, tz, serial, now)
    return ReportPage(
        report,
        by_source,
        tuple(charts),
        recon,
        recon_note,
        now,
        recon_chart,
        sessions,
        sessions_chart,
    )


def _with_cost(
    store: Store,
    series: HourlySeries,
    report: BalanceReport,
    tz: str,
    tariffs: Tariffs,
    serial: str | None,
) -> tuple[BalanceReport, Chart]:
    """The report with its cost layer, and the chart of cost per period."""
    from dataclasses import replace

    from ._cost import cost_report
    from ._cost_chart import cost_chart

    spans = [(r.start, r.end) for r in report.rows]
    cost = cost_report(store, series, spans, report.period, tz, tariffs, serial=serial)
    what = report.period.value
    title = f"Cost per {what} ({cost.currency}), {report.first_day} to {report.last_day}"
    labels = [r.label[8:] if what == "day" else r.label for r in report.rows]
    name = f"cost-{report.first_day.isoformat()}-{report.last_day.isoformat()}"
    chart = cost_chart(name, title, report.rows, cost.rows, labels)
    return replace(report, cost=cost), chart


def _kwh(value_j: int) -> str:
    return f"{joules_to_kwh(value_j):,.2f}"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f} %"


def _table(value: Any) -> dict[str, Any]:
    """A generic view of the reconciliation: key/value pairs, or rows under common columns."""
    if isinstance(value, Mapping):
        return {"kind": "pairs", "pairs": [(str(k), _cell(v)) for k, v in value.items()]}
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and value
        and all(isinstance(v, Mapping) for v in value)
    ):
        columns: list[str] = []
        for row in value:
            columns += [str(k) for k in row if str(k) not in columns]
        rows = [[_cell(row.get(c)) for c in columns] for row in value]
        return {"kind": "rows", "columns": columns, "rows": rows}
    return {"kind": "text", "text": str(value)}


#: Columns of the per-pair summary of ``zapledger.reconciliation``, with their headings.
_SUMMARY_COLUMNS = (
    ("pair", "Pair"),
    ("zappi", "zappi"),
    ("meter", "Meter"),
    ("zappi_kwh", "zappi kWh"),
    ("meter_kwh", "Meter kWh"),
    ("bias_pct", "Bias %"),
    ("hours_compared", "Hours compared"),
    ("hours", "Hours"),
    ("flagged_periods", "Flagged"),
    ("excluded_hours", "Excluded hours"),
)
_FLAGGED_COLUMNS = (
    ("period", "Period"),
    ("pair", "Pair"),
    ("zappi_kwh", "zappi kWh"),
    ("meter_kwh", "Meter kWh"),
    ("difference_kwh", "Difference kWh"),
    ("relative_pct", "Relative %"),
    ("reasons", "Reasons"),
)
#: Flagged periods listed at most.
MAX_FLAGGED_ROWS = 40


def _reconciliation_sections(recon: Any) -> list[tuple[str, dict[str, Any]]]:
    """Tables of the reconciliation: the known report shape, else a generic view."""
    if recon is None:
        return []
    if isinstance(recon, Mapping) and isinstance(recon.get("summaries"), list):
        summaries = [[_cell(s.get(key)) for key, _ in _SUMMARY_COLUMNS] for s in recon["summaries"]]
        flagged = [r for r in recon.get("rows", []) if r.get("flagged")]
        sections = [
            (
                f"Per pair, {recon.get('from')} to {recon.get('to')} "
                f"(tolerance {recon.get('tolerance_pct')} %)",
                {"kind": "rows", "columns": [h for _, h in _SUMMARY_COLUMNS], "rows": summaries},
            )
        ]
        if flagged:
            rows = [[_cell(r.get(key)) for key, _ in _FLAGGED_COLUMNS] for r in flagged]
            title = f"Flagged periods ({len(flagged)})"
            if len(rows) > MAX_FLAGGED_ROWS:
                title += f", the first {MAX_FLAGGED_ROWS}"
            sections.append(
                (
                    title,
                    {
                        "kind": "rows",
                        "columns": [h for _, h in _FLAGGED_COLUMNS],
                        "rows": rows[:MAX_FLAGGED_ROWS],
                    },
                )
            )
        return sections
    if isinstance(recon, Mapping) and all(
        isinstance(v, Mapping | list | tuple) for v in recon.values()
    ):
        return [(str(k), _table(v)) for k, v in recon.items()]
    return [("Summary", _table(recon))]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return "—" if value is None else str(value)


# --- EV charge sessions ------------------------------------------------------------------------

#: The sessions table and chart show at most this many (the latest); totals count them all.
MAX_SESSION_ROWS = 100


def _sessions(
    store: Store, first: date, last: date, tz: str, serial: str | None, now: datetime
) -> tuple[dict[str, Any] | None, Chart | None]:
    """The sessions of the range's last days (``as_dict``, the latest rows only) and their
    solar-share chart. At most ``DAILY_MAX_DAYS`` days: sessions read every stored minute, and a
    page of years would otherwise wait seconds for a table of thousands of rows."""
    from ..sessions import sessions

    first = max(first, last - timedelta(days=DAILY_MAX_DAYS - 1))
    report = sessions(store, first, last, tz, serial=serial, now=now)
    if not report.sessions:
        return None, None
    shown = replace(report, sessions=report.sessions[-MAX_SESSION_ROWS:])
    data = report.as_dict()
    data["shown"] = shown.as_dict()["sessions"]
    return data, session_share_chart(shown)


def _session_rows(data: Mapping[str, Any]) -> list[list[str]]:
    """Cells of the sessions table: local times, kWh, kW (the display edge)."""
    from ..localtime import to_local

    rows = []
    for s in data["shown"]:
        start = to_local(datetime.fromisoformat(s["start"]), data["tz"])
        end = to_local(datetime.fromisoformat(s["end"]), data["tz"])
        minutes = s["duration_s"] // 60
        rows.append(
            [
                start.strftime("%Y-%m-%d %H:%M %Z"),
                end.strftime("%H:%M %Z" if end.date() == start.date() else "%Y-%m-%d %H:%M %Z"),
                f"{minutes // 60}:{minutes % 60:02d}",
                f"{s['energy_kwh']:,.2f}",
                f"{s['diverted_kwh']:,.2f}",
                f"{s['boosted_kwh']:,.2f}",
                _pct(s["solar_share"]),
                f"{s['peak_power_w'] / 1000:,.2f}",
                ", ".join(s["modes"]) or "—",
                str(s["missing_minutes"]),
            ]
        )
    return rows


def render_html(page: ReportPage) -> str:
    """The page's HTML text (jinja2, autoescaped)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("zapledger.report", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["kwh"] = _kwh
    env.filters["pct"] = _pct
    report = page.report
    sections = _reconciliation_sections(page.reconciliation)
    title = (
        f"Energy balance {report.first_day.isoformat()} to {report.last_day.isoformat()}"
        if report.first_day != report.last_day
        else f"Energy balance {report.first_day.isoformat()}"
    )
    template = env.get_template("report.html")
    return template.render(
        title=title,
        report=report,
        total=report.total,
        incomplete=report.incomplete,
        by_source=page.total_by_source,
        charts=[
            {"name": c.name, "title": c.title, "data": base64.b64encode(c.png).decode("ascii")}
            for c in page.charts
        ],
        reconciliation=sections,
        reconciliation_note=page.reconciliation_note,
        reconciliation_chart=(
            base64.b64encode(page.reconciliation_chart).decode("ascii")
            if page.reconciliation_chart
            else None
        ),
        sessions=page.sessions,
        session_rows=_session_rows(page.sessions) if page.sessions else [],
        sessions_chart=(
            {
                "name": page.sessions_chart.name,
                "title": page.sessions_chart.title,
                "data": base64.b64encode(page.sessions_chart.png).decode("ascii"),
            }
            if page.sessions_chart
            else None
        ),
        generated=page.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cost_keys=(
            "import_cost",
            "export_revenue",
            "standing_charge",
            "net_cost",
            "ev_grid_cost",
            "ev_solar_value",
            "savings",
        ),
        version=__version__,
    )


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
    """Write the report of the local days ``first_day``..``last_day`` into ``out_dir``.

    Returns the path of the page, ``report-<first>_<last>.html``; the folder is created. An
    existing page is refused (OutputError) unless ``force``.
    """
    from ..outputs import claim, output_file, prepare_dir

    page = build_report_page(
        store, first_day, last_day, tz, serial=serial, now=now, tariffs=tariffs
    )
    start, end = page.report.first_day, page.report.last_day
    folder = Path(out_dir)
    path = folder / f"report-{start.isoformat()}_{end.isoformat()}.html"
    claim([path], force=force)
    prepare_dir(folder)
    with output_file(path, force=force) as fh:
        fh.write(render_html(page).encode("utf-8"))
    return path
