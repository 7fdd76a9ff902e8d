"""What the energy cost and earned: the cost layer joined onto the balance, hour by hour.

Money is exact: an amount is kept as joules × micro-units per kWh (an integer; one currency unit
is 3.6e12 of them) and becomes a :class:`~decimal.Decimal` at the edge. An hour whose price is
unknown makes every amount that needs it unknown: the amount keeps its priced part and counts the
unpriced hours, so each total that includes them says so. The formulas are in docs/formulas.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..localtime import local_day_window, to_local
from ..models import Energy, Period, Resolution
from ..prices import PriceBook, price_book
from ..store import Store
from ..tariffs import MICRO, Tariffs
from ._series import HOUR, HourlySeries, SlotStatus

__all__ = [
    "SCALE",
    "Amount",
    "Cost",
    "CostReport",
    "HourCosts",
    "cost_of_energy",
    "cost_report",
    "hour_costs",
]

J_PER_KWH = 3_600_000
#: Scaled units (joules × micro-units per kWh) in one unit of currency.
SCALE = J_PER_KWH * MICRO
_SIX = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Amount:
    """A sum of money in one currency; with ``unpriced`` > 0 only part of it is known.

    ``unpriced`` counts the intervals without a price: hours in reports, minutes in sessions.
    """

    currency: str
    scaled: int = 0
    unpriced: int = 0

    @property
    def known(self) -> bool:
        return self.unpriced == 0

    @property
    def priced_part(self) -> Decimal:
        """The sum of the priced hours, rounded to 1e-6 of the currency."""
        return (Decimal(self.scaled) / SCALE).quantize(_SIX)

    @property
    def value(self) -> Decimal | None:
        """The amount, or None when some hour of it has no price."""
        return self.priced_part if self.known else None

    def __add__(self, other: Amount) -> Amount:
        if self.currency != other.currency and self.currency and other.currency:
            raise ValueError(f"cannot add {self.currency} and {other.currency}")
        return Amount(
            self.currency or other.currency,
            self.scaled + other.scaled,
            self.unpriced + other.unpriced,
        )

    def __neg__(self) -> Amount:
        return Amount(self.currency, -self.scaled, self.unpriced)

    def __sub__(self, other: Amount) -> Amount:
        return self + (-other)

    def text(self, places: int = 2) -> str:
        """``12.34``, or ``12.34+?`` when part of it is unknown (the priced part, then ``+?``)."""
        shown = f"{self.priced_part:.{places}f}"
        return shown if self.known else f"{shown}+?"

    def json(self) -> str | None:
        """The exact decimal as a string (JSON and CSV), None when unknown."""
        value = self.value
        return None if value is None else str(value)


_FIELDS = (
    "import_cost",
    "export_revenue",
    "standing_charge",
    "ev_grid_cost",
    "ev_solar_value",
    "savings",
)


@dataclass(frozen=True, slots=True)
class Cost:
    """The money of one period. ``net_cost`` = import cost − export revenue + standing charge."""

    currency: str
    import_cost: Amount
    export_revenue: Amount
    standing_charge: Amount
    ev_grid_cost: Amount
    ev_solar_value: Amount
    savings: Amount
    #: hours priced at the mean price of the hour (prices changed inside it, minutes missing)
    approximate_hours: int = 0

    @classmethod
    def zero(cls, currency: str) -> Cost:
        z = Amount(currency)
        return cls(currency, z, z, z, z, z, z)

    @property
    def net_cost(self) -> Amount:
        return self.import_cost - self.export_revenue + self.standing_charge

    @property
    def unpriced_hours(self) -> int:
        """Hours (or, for standing charges, days' hours) without a price in this period."""
        return max(a.unpriced for a in self.amounts().values())

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.currency,
            self.import_cost + other.import_cost,
            self.export_revenue + other.export_revenue,
            self.standing_charge + other.standing_charge,
            self.ev_grid_cost + other.ev_grid_cost,
            self.ev_solar_value + other.ev_solar_value,
            self.savings + other.savings,
            self.approximate_hours + other.approximate_hours,
        )

    @classmethod
    def total(cls, items: Iterable[Cost], currency: str) -> Cost:
        out = cls.zero(currency)
        for item in items:
            out = out + item
        return out

    def amounts(self) -> dict[str, Amount]:
        return {f: getattr(self, f) for f in _FIELDS} | {"net_cost": self.net_cost}

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            **{name: a.json() for name, a in self.amounts().items()},
            "cost_complete": self.unpriced_hours == 0,
            "unpriced_hours": self.unpriced_hours,
            "approximate_hours": self.approximate_hours,
        }


def cost_of_energy(
    currency: str,
    parts: Sequence[Energy],
    import_prices: Sequence[int | None],
    export_prices: Sequence[int | None],
) -> Cost:
    """The cost of one interval from its energy per price granule (one part per granule)."""
    vals, unknown = _hour_values(parts, import_prices, export_prices)
    ic, er, eg, es, sv = (Amount(currency, v, u) for v, u in zip(vals, unknown, strict=True))
    return Cost(currency, ic, er, Amount(currency), eg, es, sv)


def _mean(prices: Sequence[int | None]) -> list[int | None]:
    if any(p is None for p in prices):
        return [None]
    known = [p for p in prices if p is not None]
    return [sum(known) // len(known)]


#: The amounts an hour has (no standing charge), in the order of :class:`HourCosts` columns.
_HOURLY = ("import_cost", "export_revenue", "ev_grid_cost", "ev_solar_value", "savings")


def _hour_values(
    parts: Sequence[Energy], imp: Sequence[int | None], exp: Sequence[int | None]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Scaled amounts of one hour (order of ``_HOURLY``) and 1 where a price is missing."""
    ic = er = eg = es = sv = 0
    no_imp = any(p is None for p in imp)
    no_exp = any(p is None for p in exp)
    for e, p, q in zip(parts, imp, exp, strict=True):
        if p is not None:
            ic += e.import_j * p
            eg += e.boosted_j * p
            sv += (e.generation_j - e.export_j) * p
        if q is not None:
            er += e.export_j * q
            es += e.diverted_j * q
            sv += e.export_j * q
    if no_imp:
        ic = eg = 0
    if no_exp:
        er = es = 0
    if no_imp or no_exp:
        sv = 0
    return (ic, er, eg, es, sv), (no_imp, no_exp, no_imp, no_exp, no_imp or no_exp)


@dataclass(frozen=True, slots=True)
class HourCosts:
    """The cost of every hour with data, as columns of exact integers (fast to slice and sum)."""

    currency: str
    starts: list[datetime]
    values: tuple[list[int], ...]
    unpriced: tuple[list[int], ...]
    approximate: list[int]

    def _cost(self, i: int, j: int) -> Cost:
        c = self.currency
        amounts = [
            Amount(c, sum(v[i:j]), sum(u[i:j]))
            for v, u in zip(self.values, self.unpriced, strict=True)
        ]
        ic, er, eg, es, sv = amounts
        return Cost(c, ic, er, Amount(c), eg, es, sv, sum(self.approximate[i:j]))

    def between(self, start: datetime, end: datetime) -> Cost:
        """The summed cost of the hours that start in ``[start, end)``."""
        i = bisect_left(self.starts, start)
        return self._cost(i, bisect_left(self.starts, end, lo=i))

    def at(self, start: datetime) -> Cost | None:
        """The cost of the hour starting at ``start``; None when it holds no data."""
        i = bisect_left(self.starts, start)
        if i < len(self.starts) and self.starts[i] == start:
            return self._cost(i, i + 1)
        return None


def hour_costs(
    store: Store,
    series: HourlySeries,
    book: PriceBook,
    *,
    serial: str | None = None,
) -> HourCosts:
    """The cost of every hour of ``series`` that holds data.

    An hour whose prices change inside it is priced per granule from its minute records; without
    all 60 of them it is priced at the mean price of the hour, and counted as approximate.
    """
    split: dict[datetime, list[Energy]] = {}
    if book.granule_s < 3600:
        varying = [
            s.start for s in series.slots if s.counted and len(set(book.hour(s.start)[0])) > 1
        ]
        split = _granule_energy(store, varying, book.granule_s, serial)
    if book.granule_s == 3600:
        return _hourly_prices(series, book)
    starts: list[datetime] = []
    values: tuple[list[int], ...] = tuple([] for _ in _HOURLY)
    unpriced: tuple[list[int], ...] = tuple([] for _ in _HOURLY)
    approximate: list[int] = []
    for slot in series.slots:
        if not slot.counted:
            continue
        imp, exp = book.hour(slot.start)
        approx = 0
        if len(set(imp)) <= 1 and len(set(exp)) <= 1:
            vals, unknown = _hour_values((slot.energy,), imp[:1], exp[:1])
        elif slot.start in split:
            vals, unknown = _hour_values(split[slot.start], imp, exp)
        else:
            vals, unknown = _hour_values((slot.energy,), _mean(imp), _mean(exp))
            approx = 1
        starts.append(slot.start)
        for column, v in zip(values, vals, strict=True):
            column.append(v)
        for column, u in zip(unpriced, unknown, strict=True):
            column.append(u)
        approximate.append(approx)
    return HourCosts(book.currency, starts, values, unpriced, approximate)


_COUNTED = frozenset((SlotStatus.HOUR, SlotStatus.MINUTE, SlotStatus.PARTIAL))


def _hourly_prices(series: HourlySeries, book: PriceBook) -> HourCosts:
    """The fast path of :func:`hour_costs` when every price holds for whole hours: one row of
    exact integers per hour, turned into columns at the end."""
    rows: list[tuple[Any, ...]] = []
    imp, exp = book.import_micro, book.export_micro
    base = book.index(series.start)
    for i, slot in enumerate(series.slots):
        if slot.status not in _COUNTED:
            continue
        e = slot.energy
        p, q = imp[base + i], exp[base + i]
        if p is not None and q is not None:
            rows.append(
                (
                    slot.start,
                    e.import_j * p,
                    e.export_j * q,
                    e.boosted_j * p,
                    e.diverted_j * q,
                    (e.generation_j - e.export_j) * p + e.export_j * q,
                    0,
                    0,
                    0,
                )
            )
        else:
            ic, eg = (0, 0) if p is None else (e.import_j * p, e.boosted_j * p)
            er, es = (0, 0) if q is None else (e.export_j * q, e.diverted_j * q)
            rows.append((slot.start, ic, er, eg, es, 0, p is None, q is None, 1))
    if not rows:
        return HourCosts(
            book.currency, [], tuple([] for _ in _HOURLY), tuple([] for _ in _HOURLY), []
        )
    starts, ic_, er_, eg_, es_, sv_, u_imp, u_exp, u_sv = (list(c) for c in zip(*rows, strict=True))
    return HourCosts(
        book.currency,
        starts,
        (ic_, er_, eg_, es_, sv_),
        (u_imp, u_exp, u_imp, u_exp, u_sv),
        [0] * len(starts),
    )


def _granule_energy(
    store: Store, hours: Sequence[datetime], granule_s: int, serial: str | None
) -> dict[datetime, list[Energy]]:
    """Energy per granule of the hours whose minutes are all stored (60 per device)."""
    if not hours:
        return {}
    devices = 1 if serial is not None else max(1, len(store.zappi_serials()))
    n = 3600 // granule_s
    spans: list[tuple[datetime, datetime]] = []
    for h in hours:
        if spans and spans[-1][1] == h:
            spans[-1] = (spans[-1][0], h + HOUR)
        else:
            spans.append((h, h + HOUR))
    wanted = set(hours)
    found: dict[datetime, list[Energy]] = {}
    counts: dict[datetime, int] = {}
    for a, b in spans:
        for bucket in store.iter_energy(serial, Resolution.MINUTE, a, b, granule_s):
            hour = bucket.start.replace(minute=0, second=0)
            if hour not in wanted:
                continue
            parts = found.setdefault(hour, [Energy()] * n)
            parts[(bucket.start.minute * 60) // granule_s] = bucket.energy
            counts[hour] = counts.get(hour, 0) + bucket.records
    return {h: p for h, p in found.items() if counts[h] >= 60 * devices}


@dataclass(frozen=True, slots=True)
class CostReport:
    """The cost of each period of a balance report (same order), its total and notes."""

    currency: str
    rows: tuple[Cost, ...]
    total: Cost
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
            "notes": list(self.notes),
        }


def _standing(book: PriceBook, start: datetime, end: datetime, tz: str) -> Amount:
    """The standing charges of the local days that start in ``[start, end)``."""
    total = Amount(book.currency)
    day = to_local(start, tz).date()
    while True:
        a, b = local_day_window(day, tz, Resolution.HOUR)
        if a >= end:
            return total
        if a >= start:
            micro = book.standing_micro(day)
            hours = int((b - a).total_seconds()) // 3600
            total = total + (
                Amount(book.currency, 0, hours)
                if micro is None
                else Amount(book.currency, micro * J_PER_KWH)
            )
        day += timedelta(days=1)


def cost_report(
    store: Store,
    series: HourlySeries,
    spans: Sequence[tuple[datetime, datetime]],
    period: Period,
    tz: str,
    tariffs: Tariffs,
    *,
    serial: str | None = None,
) -> CostReport:
    """The cost of each ``[start, end)`` span of ``series`` (the periods of a balance report).

    Days, months and years include the standing charge of their local days; hours do not.
    """
    book = price_book(store, tariffs, tz, series.start, series.end)
    hours = hour_costs(store, series, book, serial=serial)
    currency = book.currency
    rows: list[Cost] = []
    for a, b in spans:
        cost = hours.between(a, b)
        if period is not Period.HOUR:
            cost = replace(cost, standing_charge=_standing(book, a, b, tz))
        rows.append(cost)
    total = Cost.total(rows, currency)
    notes = []
    if total.unpriced_hours:
        notes.append(
            f"{total.unpriced_hours} h without a price: amounts marked +? are the priced part "
            "only (the cost of those hours is unknown, not 0)"
        )
    if total.approximate_hours:
        notes.append(
            f"{total.approximate_hours} h priced at the hour's mean price (the price changed "
            "within the hour and its minute records are incomplete)"
        )
    return CostReport(currency, tuple(rows), total, tuple(notes))
