"""The comparison as a PNG: zappi and meter per day, and the deviation over time.

matplotlib (extra ``charts``) is imported only here, with the file-only Agg backend.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ._results import Comparison, ReconcileReport

__all__ = ["render_chart"]

#: Days with less zappi energy than this are left out of the deviation plot: their relative
#: difference is mostly the meter's 1 Wh resolution.
_MIN_KWH = 0.5


def _pyplot() -> tuple[Any, Any]:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - the extra is part of the test environment
        raise ConfigError("charts need matplotlib: pip install 'zapledger[charts]'") from None
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    return plt, mdates


def render_chart(
    report: ReconcileReport, path: str | Path, *, dpi: int = 110, force: bool = False
) -> Path:
    """Write the chart of a report (from its daily comparisons) to ``path``; returns the path.

    An existing file is refused (OutputError) unless ``force``.
    """
    from ..outputs import claim, output_file, prepare_dir

    out = Path(path)
    claim([out], force=force)
    plt, mdates = _pyplot()
    pairs = [s.pair for s in report.summaries]
    fig, axes = plt.subplots(
        len(pairs) + 1 if pairs else 1,
        1,
        figsize=(10, 2.6 * (len(pairs) + 1)),
        sharex=True,
        squeeze=False,
    )
    try:
        deviation = axes[-1][0]
        for i, pair in enumerate(pairs):
            days = [d for d in report.days if d.pair == pair]
            ax = axes[i][0]
            xs = [mdates.date2num(_day(d)) for d in days]
            ax.bar([x - 0.2 for x in xs], [_nan(d.zappi_kwh) for d in days], 0.4, label="zappi")
            ax.bar([x + 0.2 for x in xs], [_nan(d.meter_kwh) for d in days], 0.4, label="meter")
            for d in days:
                if d.reasons:  # a day with a known problem: shaded
                    x = mdates.date2num(_day(d))
                    ax.axvspan(x - 0.5, x + 0.5, color="0.85", zorder=0)
            summary = report.summary(pair)
            bias = "—" if summary.bias_pct is None else f"{summary.bias_pct:+.2f} %"
            ax.set_title(f"{pair}: {summary.zappi_label} vs {summary.meter_label} (bias {bias})")
            ax.set_ylabel("kWh / day")
            ax.legend(loc="upper right", fontsize="small")
            comparable = [
                d
                for d in days
                if d.comparable and d.relative_pct is not None and (d.zappi_kwh or 0) >= _MIN_KWH
            ]
            deviation.plot(
                [mdates.date2num(_day(d)) for d in comparable],
                [d.relative_pct for d in comparable],
                marker=".",
                label=pair,
            )
        tol = report.tolerance_pct
        deviation.axhspan(-tol, tol, color="tab:green", alpha=0.1, label=f"±{tol:g} %")
        deviation.axhline(0, color="0.3", lw=0.8)
        deviation.set_ylabel("meter − zappi, % of zappi")
        deviation.set_title(
            f"Deviation per day (days under {_MIN_KWH:g} kWh or with a known problem left out)"
        )
        if pairs:
            deviation.legend(loc="upper right", fontsize="small")
        fig.suptitle(
            f"zappi vs household meters, {report.first_day} – {report.last_day} ({report.tz})"
        )
        n_days = (report.last_day - report.first_day).days + 1
        deviation.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, n_days // 10)))
        deviation.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        fig.tight_layout()
        prepare_dir(out.parent)
        with output_file(out, force=force) as fh:
            fig.savefig(fh, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return out


def _day(c: Comparison) -> date:
    return date.fromisoformat(c.period)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
