"""PNG charts of the balance, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Every chart is built from an :class:`HourlySeries`, the same hours the tables are summed from, so
a bar equals the matching table row. Bars are placed by position, one per local period, so a DST
day simply has 23 or 25 of them; hours are labelled in local time and the zone abbreviation is
shown wherever the UTC offset changes. Periods with incomplete data are hatched and their labels
drawn in red.

Every :class:`Chart` carries the series it drew, read back from the matplotlib artists after the
PNG is rendered (bar centres and heights, line points), so a test can check what is on the
picture rather than what was meant to be.
"""

from __future__ import annotations

import calendar
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from math import nan
from typing import TYPE_CHECKING, Any

from ..localtime import local_day_window, to_local
from ..models import Period, Resolution, joules_to_kwh
from ._balance import PeriodBalance, aggregate
from ._series import HourlySeries, slots_between

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sessions import SessionReport

__all__ = [
    "Chart",
    "DrawnSeries",
    "day_chart",
    "days_chart",
    "hour_labels",
    "month_chart",
    "months_chart",
    "profile_chart",
    "session_share_chart",
    "year_chart",
    "years_chart",
]

DPI = 100
SIZE_IN = (10.0, 4.8)
COLOURS = {
    "house": "#4C72B0",
    "ev_solar": "#55A868",
    "ev_grid": "#DD8452",
    "export": "#CCB974",
    "generation": "#222222",
    "consumption": "#4C72B0",
    "import": "#C44E52",
}
INCOMPLETE = "#C00000"


@dataclass(frozen=True, slots=True)
class DrawnSeries:
    """One drawn series: bar centres and signed heights, or line points (kWh, or kW for profiles).

    ``key`` names it: ``house``, ``ev_solar``, ``ev_grid``, ``export``, ``generation`` and
    ``incomplete`` (the hatched overlay) on bar charts; ``<quantity>:<year>`` on the years chart;
    ``<quantity>:<yyyy-mm>`` on the profile chart; ``solar_share`` (in %) on the sessions chart.
    Bars of zero height are not drawn, so not here.
    """

    key: str
    x: tuple[float, ...]
    y: tuple[float, ...]

    @property
    def total(self) -> float:
        """Sum of the drawn values (points without data, NaN, left out)."""
        return sum(v for v in self.y if v == v)


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered chart: a file-name stem, a title for the page, the PNG bytes, what was drawn."""

    name: str
    title: str
    png: bytes
    series: tuple[DrawnSeries, ...] = ()

    def drawn(self, key: str) -> DrawnSeries:
        """The series drawn under ``key``; ``KeyError`` when nothing was drawn for it."""
        for s in self.series:
            if s.key == key:
                return s
        raise KeyError(f"chart {self.name!r} drew no series {key!r}")


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = SIZE_IN) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # a light zlib level: these flat-colour charts compress well anyway, and it halves the time
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _drawn(fig: Figure) -> tuple[DrawnSeries, ...]:
    """The series on the rendered figure, from its artists that carry a ``gid``.

    A bar is a 4-corner polygon built by :func:`_rects`: its centre is the middle of its x
    extent, its signed height the second corner's y minus the first's.
    """
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D

    out: list[DrawnSeries] = []
    for ax in fig.axes:
        for artist in (*ax.collections, *ax.lines):
            key = artist.get_gid()
            if key is None:
                continue
            if isinstance(artist, PolyCollection):
                xs, ys = [], []
                for path in artist.get_paths():
                    v = np.asarray(path.vertices, dtype=float)
                    xs.append(float(v[:, 0].min() + v[:, 0].max()) / 2)
                    ys.append(float(v[1, 1] - v[0, 1]))
                out.append(DrawnSeries(key, tuple(xs), tuple(ys)))
            elif isinstance(artist, Line2D):
                x = np.asarray(artist.get_xdata(), dtype=float)
                y = np.asarray(artist.get_ydata(), dtype=float)
                out.append(DrawnSeries(key, tuple(map(float, x)), tuple(map(float, y))))
    return tuple(out)


def _chart(name: str, title: str, fig: Figure) -> Chart:
    """Render the figure, then read back what it drew."""
    png = _png(fig)
    return Chart(name, title, png, _drawn(fig))


def _kwh(values: Sequence[int]) -> list[float]:
    return [joules_to_kwh(v) for v in values]


def _rects(x: Sequence[int], bottom: Sequence[float], height: Sequence[float]) -> list[Any]:
    """Corner lists of bars of width 0.8 centred on ``x``."""
    w = 0.4
    return [
        [(i - w, b), (i - w, b + h), (i + w, b + h), (i + w, b)]
        for i, b, h in zip(x, bottom, height, strict=True)
        if h
    ]


def finish_axes(
    ax: Any, labels: Sequence[str], flagged: Sequence[bool], low: float, top: float, *, gid: str
) -> None:
    """The frame every bar chart shares: flagged columns hatched (``gid``) and their labels
    coloured, the zero line, limits padded by 6 % and one tick per column."""
    from matplotlib.collections import PolyCollection

    n = len(labels)
    pad = 0.06 * ((top - low) or 1.0)
    bad = [i for i in range(n) if flagged[i]]
    if bad:
        ax.add_collection(
            PolyCollection(
                _rects(bad, [low - pad] * len(bad), [top - low + 2 * pad] * len(bad)),
                facecolors="none",
                edgecolors="#888888",
                hatch="//",
                linewidths=0,
                alpha=0.5,
                gid=gid,
            )
        )
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(low - pad, top + pad)
    ax.set_xticks(range(n), labels)
    for tick, is_flagged in zip(ax.get_xticklabels(), flagged, strict=True):
        if is_flagged:
            tick.set_color(INCOMPLETE)


def _balance_bars(
    fig: Figure, ax: Axes, rows: Sequence[PeriodBalance], labels: Sequence[str], *, xlabel: str
) -> None:
    """Uses stacked above zero (house, EV solar, EV grid), export below, generation as a line.

    Each series is one PolyCollection (much faster than one Rectangle per bar); periods with
    incomplete data get a hatched overlay and red tick labels.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(rows)
    x = list(range(n))
    house = [max(0.0, joules_to_kwh(r.energy.house_j)) for r in rows]
    ev_solar = _kwh([r.energy.diverted_j for r in rows])
    ev_grid = _kwh([r.energy.boosted_j for r in rows])
    export = [-v for v in _kwh([r.energy.export_j for r in rows])]
    incomplete = [not r.coverage.complete for r in rows]
    has_data = [r.coverage.has_data for r in rows]
    generation = [
        joules_to_kwh(r.energy.generation_j) if ok else nan
        for r, ok in zip(rows, has_data, strict=True)
    ]
    handles: list[Any] = []
    names: list[str] = []
    bottom = [0.0] * n
    for values, key, label in (
        (house, "house", "House"),
        (ev_solar, "ev_solar", "EV, solar (diverted)"),
        (ev_grid, "ev_grid", "EV, grid (boost)"),
    ):
        ax.add_collection(
            PolyCollection(_rects(x, bottom, values), facecolors=COLOURS[key], gid=key)
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        handles.append(Patch(facecolor=COLOURS[key]))
        names.append(label)
    ax.add_collection(
        PolyCollection(_rects(x, [0.0] * n, export), facecolors=COLOURS["export"], gid="export")
    )
    handles.append(Patch(facecolor=COLOURS["export"]))
    names.append("Export")
    ax.plot(
        x,
        generation,
        color=COLOURS["generation"],
        marker="o",
        markersize=3,
        linewidth=1.2,
        gid="generation",
    )
    handles.append(Line2D([], [], color=COLOURS["generation"], marker="o", markersize=3))
    names.append("Generation")
    top = max([*bottom, *(g for g in generation if g == g), 0.0])
    low = min([*export, 0.0])
    if any(incomplete):
        handles.append(Patch(facecolor="white", edgecolor="#888888", hatch="//"))
        names.append("incomplete data")
    finish_axes(ax, labels, incomplete, low, top, gid="incomplete")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Energy (kWh)")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(handles, names, loc="lower center", ncols=len(names), fontsize=8, frameon=False)


def _bar_chart(
    name: str, title: str, rows: Sequence[PeriodBalance], labels: Sequence[str], xlabel: str
) -> Chart:
    fig = _figure()
    ax = fig.add_subplot()
    _balance_bars(fig, ax, rows, labels, xlabel=xlabel)
    ax.set_title(title)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.22)
    return _chart(name, title, fig)


def hour_labels(rows: Sequence[PeriodBalance], tz: str) -> list[str]:
    """Local hour of each row; the zone abbreviation where the UTC offset changes (DST)."""
    labels: list[str] = []
    previous: Any = None
    for r in rows:
        local = to_local(r.start, tz)
        offset = local.utcoffset()
        text = local.strftime("%H")
        if offset != previous:
            text += "\n" + local.strftime("%Z")
        labels.append(text)
        previous = offset
    return labels


def day_chart(series: HourlySeries, day: date, tz: str) -> Chart:
    """Stacked balance per local hour of one day (23, 24 or 25 bars)."""
    rows = aggregate(series, Period.HOUR, day, day, tz).rows
    title = f"Energy per hour, {day:%a %d %b %Y} ({tz})"
    return _bar_chart(f"day-{day.isoformat()}", title, rows, hour_labels(rows, tz), "Local time")


def days_chart(
    series: HourlySeries, first: date, last: date, tz: str, *, name: str | None = None
) -> Chart:
    """Stacked balance per local day of a range (a month, usually)."""
    rows = aggregate(series, Period.DAY, first, last, tz).rows
    whole_month = first.day == 1 and last == _month_end(first.year, first.month)
    if whole_month:
        labels = [str(int(r.label[-2:])) for r in rows]
        title = f"Energy per day, {first:%B %Y} ({tz})"
        xlabel = "Day of the month"
    else:
        labels = [
            f"{int(r.label[-2:])}\n{calendar.month_abbr[int(r.label[5:7])]}"
            if r.label.endswith("-01") or i == 0
            else str(int(r.label[-2:]))
            for i, r in enumerate(rows)
        ]
        title = f"Energy per day, {first.isoformat()} to {last.isoformat()} ({tz})"
        xlabel = "Day"
    stem = name or f"days-{first.isoformat()}-{last.isoformat()}"
    return _bar_chart(stem, title, rows, labels, xlabel)


def month_chart(series: HourlySeries, year: int, month: int, tz: str) -> Chart:
    """Stacked balance per local day of one month."""
    first = date(year, month, 1)
    return days_chart(
        series, first, _month_end(year, month), tz, name=f"month-{year:04d}-{month:02d}"
    )


def months_chart(
    series: HourlySeries, first: date, last: date, tz: str, *, name: str | None = None
) -> Chart:
    """Stacked balance per local month of a range of days (a year, usually)."""
    rows = aggregate(series, Period.MONTH, first, last, tz).rows
    labels = [calendar.month_abbr[int(r.label[5:7])] for r in rows]
    if len({r.label[:4] for r in rows}) > 1:
        labels = [
            f"{lab}\n{r.label[:4]}" if lab == "Jan" or i == 0 else lab
            for i, (lab, r) in enumerate(zip(labels, rows, strict=True))
        ]
        title = f"Energy per month, {first.isoformat()} to {last.isoformat()} ({tz})"
    else:
        title = f"Energy per month, {first.year} ({tz})"
    stem = name or f"months-{first.isoformat()}-{last.isoformat()}"
    return _bar_chart(stem, title, rows, labels, "Month")


def year_chart(series: HourlySeries, year: int, tz: str) -> Chart:
    """Stacked balance per local month of one year."""
    return months_chart(series, date(year, 1, 1), date(year, 12, 31), tz, name=f"year-{year:04d}")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


_COMPARED = (
    ("generation_j", "Generation"),
    ("consumption_j", "Consumption (house + EV)"),
    ("import_j", "Import"),
    ("ev_j", "EV charging"),
)


def years_chart(series: HourlySeries, years: Sequence[int], tz: str) -> Chart:
    """Monthly totals of several years side by side, one line per year, four panels."""
    fig = _figure(size=(10.0, 6.4))
    axes = fig.subplots(2, 2, sharex=True)
    months = list(range(1, 13))
    monthly = {
        y: aggregate(series, Period.MONTH, date(y, 1, 1), date(y, 12, 31), tz).rows for y in years
    }
    for ax, (attr, label) in zip(axes.flat, _COMPARED, strict=True):
        for y, rows in monthly.items():
            values = [joules_to_kwh(getattr(r.energy, attr)) for r in rows]
            done = [r.coverage.has_data for r in rows]
            ax.plot(
                [m for m, ok in zip(months, done, strict=True) if ok],
                [v for v, ok in zip(values, done, strict=True) if ok],
                marker="o",
                markersize=3,
                linewidth=1.2,
                label=str(y),
                gid=f"{attr.removesuffix('_j')}:{y}",
            )
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("Energy (kWh)")
        ax.grid(alpha=0.3)
        ax.set_xticks(months, [calendar.month_abbr[m] for m in months], fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("Month")
    axes[0][0].legend(fontsize=8, title="Year", title_fontsize=8)
    title = f"Monthly totals, {min(years)}–{max(years)} ({tz})"
    fig.suptitle(title)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.09, hspace=0.25, wspace=0.22)
    return _chart(f"years-{min(years):04d}-{max(years):04d}", title, fig)


def _profile(series: HourlySeries, year: int, month: int, tz: str) -> dict[str, list[float]]:
    """Mean kW per local hour of the day over the complete hours of one month."""
    sums = {key: [0] * 24 for key in ("generation", "consumption", "ev")}
    counts = [0] * 24
    start = local_day_window(date(year, month, 1), tz, Resolution.HOUR)[0]
    end = local_day_window(_month_end(year, month), tz, Resolution.HOUR)[1]
    for slot in slots_between(series, start, end):
        if not slot.complete:
            continue
        hour = to_local(slot.start, tz).hour
        e = slot.energy
        counts[hour] += 1
        sums["generation"][hour] += e.generation_j
        sums["consumption"][hour] += e.consumption_j
        sums["ev"][hour] += e.ev_j
    # an hour's energy in kWh is its mean power in kW
    return {
        key: [joules_to_kwh(v) / n if n else nan for v, n in zip(vals, counts, strict=True)]
        for key, vals in sums.items()
    }


_PROFILED = (
    ("generation", "Generation"),
    ("consumption", "Consumption (house + EV)"),
    ("ev", "EV charging"),
)


def profile_chart(
    series: HourlySeries, months: Sequence[tuple[int, int]], tz: str, *, name: str | None = None
) -> Chart:
    """Average daily profile of each month: mean kW per local hour, one line per month.

    Three panels (generation, consumption, EV); months are coloured around the year on a
    cyclic colour map so that neighbouring months look alike.
    """
    from matplotlib import colormaps

    fig = _figure(size=(10.0, 4.4))
    axes = fig.subplots(1, 3, sharey=True)
    hours = list(range(24))
    cmap = colormaps["twilight_shifted"]
    profiles = [((y, m), _profile(series, y, m, tz)) for y, m in months]
    for ax, (key, label) in zip(axes, _PROFILED, strict=True):
        for (y, m), prof in profiles:
            colour = cmap((m - 0.5) / 12)
            ax.plot(
                hours,
                prof[key],
                color=colour,
                linewidth=1.3,
                label=f"{calendar.month_abbr[m]} {y}",
                gid=f"{key}:{y:04d}-{m:02d}",
            )
        ax.set_title(label, fontsize=10)
        ax.set_xticks([0, 3, 6, 9, 12, 15, 18, 21])
        ax.set_xlim(0, 23)
        ax.set_xlabel("Local hour")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Mean power (kW)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, names, loc="lower center", ncols=min(len(names), 6), fontsize=8, frameon=False
    )
    first, last = months[0], months[-1]
    span = f"{calendar.month_name[first[1]]} {first[0]}"
    if last != first:
        span += f" – {calendar.month_name[last[1]]} {last[0]}"
    title = f"Average daily profile per month, {span} ({tz})"
    fig.suptitle(title)
    legend_rows = -(-len(names) // 6)
    fig.subplots_adjust(
        left=0.07, right=0.98, top=0.86, bottom=0.2 + 0.05 * legend_rows, wspace=0.08
    )
    stem = name or f"profile-{first[0]:04d}-{first[1]:02d}"
    return _chart(stem, title, fig)


# --- EV charge sessions ------------------------------------------------------------------------


def session_share_chart(report: SessionReport) -> Chart:
    """Solar share of each charge session, one bar per session in time order (local start)."""
    from matplotlib.collections import PolyCollection

    fig = _figure(size=(10.0, 3.6))
    ax = fig.add_subplot()
    x = list(range(len(report.sessions)))
    shares = [100 * (s.solar_share or 0.0) for s in report.sessions]
    ax.add_collection(
        PolyCollection(
            _rects(x, [0.0] * len(x), shares), facecolors=COLOURS["ev_solar"], gid="solar_share"
        )
    )
    labels = [to_local(s.start, report.tz).strftime("%d %b\n%H:%M") for s in report.sessions]
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_xlim(-0.6, max(len(x), 1) - 0.4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("Solar share (%)")
    ax.set_xlabel(f"Session start ({report.tz})")
    ax.grid(axis="y", alpha=0.3)
    title = f"Solar share per charge session, {report.first_day} to {report.last_day}"
    ax.set_title(title)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.25)
    return _chart(f"sessions-{report.first_day}-{report.last_day}", title, fig)
