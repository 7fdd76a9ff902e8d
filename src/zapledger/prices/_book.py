"""The price of every granule of a UTC range: tariffs in force, time-of-use windows, stored prices.

A granule is the longest step (dividing an hour) on which no price changes: an hour for fixed,
whole-hour time-of-use and hourly dynamic prices; 30 or 15 minutes otherwise. Local time enters
here only, through ``localtime.to_local``; an instant no contract or stored price covers has no
price (None), never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..exceptions import ConfigError
from ..localtime import parse_tz
from ..store import Store
from ..tariffs import Contract, TariffKind, Tariffs

__all__ = ["HOUR_S", "PriceBook", "price_book"]

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Import and export prices (micro-units per kWh, None = unknown) per granule of a range."""

    tariffs: Tariffs
    tz: str
    start: datetime
    end: datetime
    granule_s: int
    import_micro: list[int | None]
    export_micro: list[int | None]
    contract_names: list[str | None]
    _days: dict[date, Contract | None] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        return self.tariffs.currency

    def index(self, at: datetime) -> int:
        """The granule of an instant inside the range."""
        return int((at - self.start).total_seconds()) // self.granule_s

    def hour(self, at: datetime) -> tuple[list[int | None], list[int | None]]:
        """Import and export prices of the granules of the UTC hour starting at ``at``."""
        i = self.index(at)
        n = HOUR_S // self.granule_s
        return self.import_micro[i : i + n], self.export_micro[i : i + n]

    def at(self, at: datetime) -> tuple[int | None, int | None, str | None]:
        """Import price, export price and contract name of the granule holding ``at``."""
        if not self.start <= at < self.end:
            return None, None, None
        i = self.index(at)
        return self.import_micro[i], self.export_micro[i], self.contract_names[i]

    def contract_on(self, day: date) -> Contract | None:
        if day not in self._days:
            self._days[day] = self.tariffs.on(day)
        return self._days[day]

    def standing_micro(self, day: date) -> int | None:
        """The standing charge of a local day: None without a contract, 0 when it has none."""
        contract = self.contract_on(day)
        if contract is None:
            return None
        return contract.standing_micro_per_day or 0


def _stored(
    store: Store, tariffs: Tariffs, start: datetime, end: datetime
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows (start epoch s, duration, micro-price, currency, source) of each dynamic series."""
    series: dict[str, list[tuple[Any, ...]]] = {}
    for c in tariffs.contracts:
        if c.kind is TariffKind.DYNAMIC and c.prices is not None and c.prices not in series:
            points = store.price_rows(c.prices, start, end)
            wrong = {p[3] for p in points} - {c.currency}
            if wrong:
                raise ConfigError(
                    f"tariff {c.name!r} is in {c.currency} but the stored prices {c.prices!r} "
                    f"are in {', '.join(sorted(wrong))}"
                )
            series[c.prices] = points
    return series


def price_book(
    store: Store, tariffs: Tariffs, tz: str, start: datetime, end: datetime
) -> PriceBook:
    """The prices of ``[start, end)`` (UTC, on the hour grid), from the config and the store."""
    series = _stored(store, tariffs, start, end)
    durations = sorted({p[1] for points in series.values() for p in points})
    step = tariffs.granule_minutes(durations)
    hours = int((end - start).total_seconds()) // HOUR_S
    offsets = _offsets(parse_tz(tz), start, hours)
    for off in set(offsets):
        step = math.gcd(step, (off // 60) % 60) or step
    granule_s = step * 60
    n = int((end - start).total_seconds()) // granule_s
    imp: list[int | None] = [None] * n
    exp: list[int | None] = [None] * n
    names: list[str | None] = [None] * n
    dynamic: dict[str, list[int | None]] = {}
    for name, points in series.items():
        slots: list[int | None] = [None] * n
        origin = int(start.timestamp())
        if len({p[1] for p in points}) > 1:
            points = sorted(points, key=lambda p: -int(p[1]))  # shorter intervals win
        for at, duration, micro, *_ in points:
            offset = at - origin
            a = offset // granule_s
            b = -(-(offset + duration) // granule_s)
            if a >= 0 and b == a + 1 and a < n:
                slots[a] = micro
            else:
                a, b = max(a, 0), min(b, n)
                if b > a:
                    slots[a:b] = [micro] * (b - a)
        dynamic[name] = slots
    book = PriceBook(tariffs, tz, start, end, granule_s, imp, exp, names)
    _fill(book, dynamic, offsets)
    return book


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _offsets(zone: ZoneInfo, start: datetime, hours: int) -> list[int]:
    """The UTC offset (seconds) of each UTC hour of the range: one conversion per UTC day, and
    one per hour only on days whose offset changes (zones change on whole hours, or half)."""
    out: list[int] = []
    day = timedelta(days=1)

    def offset(at: datetime) -> int:
        off = at.astimezone(zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    at = start
    then = offset(at)
    while len(out) < hours:
        now, then = then, offset(at + day)
        if now == then:
            out += [now] * 24
        else:
            out += [offset(at + timedelta(hours=h)) for h in range(24)]
        at += day
    return out[:hours]


def _fill(book: PriceBook, dynamic: dict[str, list[int | None]], offsets: list[int]) -> None:
    """Each granule's contract and prices, by integer arithmetic on local epoch seconds."""
    g = book.granule_s
    per_hour = HOUR_S // g
    n = len(book.import_micro)
    base = int(book.start.timestamp())
    contracts: dict[int, Contract | None] = {}
    memo: dict[tuple[int, int, int], int | None] = {}
    imp, exp, names = book.import_micro, book.export_micro, book.contract_names
    for i in range(n):
        local_s = base + i * g + offsets[i // per_hour]
        day_number = local_s // 86400
        if day_number in contracts:
            contract = contracts[day_number]
        else:
            contract = book.contract_on(date.fromordinal(day_number + _EPOCH_ORDINAL))
            contracts[day_number] = contract
        if contract is None:
            continue
        names[i] = contract.name
        exp[i] = contract.export_micro
        if contract.kind is TariffKind.DYNAMIC:
            spot = dynamic[contract.prices or ""][i]
            imp[i] = None if spot is None else spot + (contract.import_micro or 0)
        elif not contract.windows:
            imp[i] = contract.import_micro
        else:
            key = (id(contract), (day_number + 3) % 7, (local_s // 60) % 1440)
            if key not in memo:
                memo[key] = contract.import_at(key[1], key[2])
            imp[i] = memo[key]
