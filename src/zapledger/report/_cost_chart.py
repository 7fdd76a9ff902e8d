"""The chart of cost per period (a day, usually): what was paid, earned and the net, in money.

Drawn like the balance charts (one PolyCollection per series, read back into the Chart), so a test
can check the bars against the cost table. A period with an unpriced hour shows its priced part,
hatched, with a red label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._balance import PeriodBalance
from ._charts import Chart, _chart, _figure, _rects, finish_axes
from ._cost import Cost

__all__ = ["cost_chart"]

_COLOURS = {
    "import_cost": "#C44E52",
    "standing_charge": "#8172B3",
    "export_revenue": "#CCB974",
    "net_cost": "#222222",
}


def _money(cost: Cost, key: str) -> float:
    """The priced part as a float: for drawing only, never for sums."""
    return float(cost.amounts()[key].priced_part)


def cost_chart(
    name: str,
    title: str,
    rows: Sequence[PeriodBalance],
    costs: Sequence[Cost],
    labels: Sequence[str],
) -> Chart:
    """Import cost and standing charge stacked above zero, export revenue below, net as a line."""
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = _figure()
    ax = fig.add_subplot()
    n = len(rows)
    x = list(range(n))
    currency = costs[0].currency if costs else ""
    handles: list[Any] = []
    names: list[str] = []
    bottom = [0.0] * n
    for key, label in (("import_cost", "Import"), ("standing_charge", "Standing charge")):
        values = [_money(c, key) for c in costs]
        ax.add_collection(
            PolyCollection(_rects(x, bottom, values), facecolors=_COLOURS[key], gid=key)
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        handles.append(Patch(facecolor=_COLOURS[key]))
        names.append(label)
    revenue = [-_money(c, "export_revenue") for c in costs]
    ax.add_collection(
        PolyCollection(
            _rects(x, [0.0] * n, revenue),
            facecolors=_COLOURS["export_revenue"],
            gid="export_revenue",
        )
    )
    handles.append(Patch(facecolor=_COLOURS["export_revenue"]))
    names.append("Export revenue")
    net = [_money(c, "net_cost") for c in costs]
    ax.plot(
        x, net, color=_COLOURS["net_cost"], marker="o", markersize=3, linewidth=1.2, gid="net_cost"
    )
    handles.append(Line2D([], [], color=_COLOURS["net_cost"], marker="o", markersize=3))
    names.append("Net cost")
    unpriced = [c.unpriced_hours > 0 for c in costs]
    top = max([*bottom, *net, 0.0])
    low = min([*revenue, *net, 0.0])
    if any(unpriced):
        handles.append(Patch(facecolor="white", edgecolor="#888888", hatch="//"))
        names.append("hours without a price")
    finish_axes(ax, labels, unpriced, low, top, gid="unpriced")
    ax.set_ylabel(f"Money ({currency})")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    fig.legend(handles, names, loc="lower center", ncols=len(names), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.22)
    return _chart(name, title, fig)
