"""Energy contracts: what a kWh costs and earns at any instant, from the ``[tariffs]`` config table.

A contract is valid over a range of local days; a price change is a new contract. Kinds: a fixed
price, time-of-use windows in local time, or dynamic prices stored in the database (hour, half
hour or quarter hour). Each has an optional export (feed-in) price and a standing charge per day.
Money is exact: prices are integer micro-units (millionths of the currency) per kWh, never floats.
The format is documented in ``docs/tariffs.md``; any mistake is a :class:`ConfigError` at load.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .exceptions import ConfigError

__all__ = [
    "MICRO",
    "Contract",
    "TariffKind",
    "Tariffs",
    "Window",
    "load_tariffs",
    "micro_to_decimal",
    "parse_tariffs",
    "to_micro",
]

#: Prices are kept in millionths of the currency unit (per kWh, or per day).
MICRO = 1_000_000
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SETS = {
    "all": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekend": frozenset((5, 6)),
}
_MINUTES_PER_DAY = 24 * 60


class TariffKind(enum.StrEnum):
    FIXED = "fixed"
    TIME_OF_USE = "time-of-use"
    DYNAMIC = "dynamic"


@dataclass(frozen=True, slots=True)
class Window:
    """A time-of-use window: local minutes of the day ``[start_min, end_min)`` on some weekdays.

    ``end_min <= start_min`` runs across midnight; the weekdays are those of each minute's own
    local calendar day.
    """

    name: str
    days: frozenset[int]
    start_min: int
    end_min: int
    import_micro: int

    def covers(self, weekday: int, minute_of_day: int) -> bool:
        if weekday not in self.days:
            return False
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


@dataclass(frozen=True, slots=True)
class Contract:
    """One tariff over the local days ``valid_from``..``valid_to`` (inclusive; None: open)."""

    name: str
    kind: TariffKind
    currency: str
    valid_from: date
    valid_to: date | None
    #: fixed: the price; time-of-use: the price outside every window; dynamic: a markup added to
    #: each stored price (0 when not given)
    import_micro: int | None
    export_micro: int | None
    standing_micro_per_day: int | None
    windows: tuple[Window, ...] = ()
    #: dynamic: the name of the stored price series (``zapledger prices``)
    prices: str | None = None

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def import_at(self, weekday: int, minute_of_day: int) -> int | None:
        """Fixed or time-of-use price of a local minute (dynamic prices live in the store)."""
        for window in self.windows:
            if window.covers(weekday, minute_of_day):
                return window.import_micro
        return self.import_micro

    def boundaries(self) -> set[int]:
        """Local minutes of the day at which the time-of-use price can change."""
        return {m for w in self.windows for m in (w.start_min, w.end_min)}

    def label(self) -> str:
        until = self.valid_to.isoformat() if self.valid_to else "open"
        return f"{self.name} ({self.kind.value}, {self.valid_from.isoformat()} to {until})"


@dataclass(frozen=True, slots=True)
class Tariffs:
    """The contracts of a site, sorted and without overlaps, in one currency."""

    contracts: tuple[Contract, ...]

    @property
    def currency(self) -> str:
        return self.contracts[0].currency if self.contracts else ""

    def on(self, day: date) -> Contract | None:
        """The contract in force on a local day, if any."""
        for c in self.contracts:
            if c.in_force(day):
                return c
        return None

    def granule_minutes(self, durations_s: Sequence[int] = ()) -> int:
        """The longest step (a divisor of 60 minutes) on which every price is constant."""
        step = 60
        for c in self.contracts:
            for m in c.boundaries():
                step = math.gcd(step, m % 60)
        for d in durations_s:
            step = math.gcd(step, (d // 60) % 60)
        return step or 60


def to_micro(value: object, what: str) -> int:
    """A price from the config (a string like ``"0.2345"``, an int or a float) in micro-units."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{what} should be a number or a quoted decimal, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{what}: {value!r} is not a number") from None
    if not amount.is_finite():
        raise ConfigError(f"{what}: {value!r} is not a finite number")
    scaled = amount * MICRO
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what}: {value!r} has more than 6 decimals")
    return int(scaled)


def micro_to_decimal(micro: int) -> Decimal:
    return Decimal(micro) / MICRO


def _minute(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise ConfigError(f'{what} should be a quoted local time like "07:30", got {value!r}')
    if value == "24:00":
        return _MINUTES_PER_DAY
    try:
        at = time.fromisoformat(value)
    except ValueError:
        raise ConfigError(f'{what}: {value!r} is not a time like "07:30"') from None
    if at.second or at.microsecond or at.tzinfo is not None:
        raise ConfigError(f"{what}: {value!r} should be whole minutes of local time")
    return at.hour * 60 + at.minute


def _days(value: object, what: str) -> frozenset[int]:
    if isinstance(value, str) and value in _DAY_SETS:
        return _DAY_SETS[value]
    if isinstance(value, list) and value and all(v in _WEEKDAYS for v in value):
        return frozenset(_WEEKDAYS.index(v) for v in value)
    raise ConfigError(
        f'{what} should be "all", "weekdays", "weekend" or a list of '
        f"{', '.join(_WEEKDAYS)}; got {value!r}"
    )


def _check_keys(table: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(allowed))}"
        )


def _date(value: object, what: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{what} should be a date like 2024-01-01, got {value!r}")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} should be a non-empty string, got {value!r}")
    return value.strip()


_COMMON = {"name", "kind", "currency", "from", "to", "export_per_kwh", "standing_charge_per_day"}
_KIND_KEYS = {
    TariffKind.FIXED: {"import_per_kwh"},
    TariffKind.TIME_OF_USE: {"import_per_kwh", "windows"},
    TariffKind.DYNAMIC: {"prices", "markup_per_kwh"},
}
_WINDOW_KEYS = {"name", "days", "start", "end", "import_per_kwh"}


def _window(raw: object, where: str) -> Window:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} should be a table")
    _check_keys(raw, _WINDOW_KEYS, where)
    for key in ("start", "end", "import_per_kwh"):
        if key not in raw:
            raise ConfigError(f"{where} needs {key!r}")
    start = _minute(raw["start"], f"{where} start")
    end = _minute(raw["end"], f"{where} end") % _MINUTES_PER_DAY
    if start == end:
        raise ConfigError(f"{where}: start and end are the same time")
    return Window(
        name=_text(raw.get("name", f"{raw['start']}-{raw['end']}"), f"{where} name"),
        days=_days(raw.get("days", "all"), f"{where} days"),
        start_min=start,
        end_min=end,
        import_micro=to_micro(raw["import_per_kwh"], f"{where} import_per_kwh"),
    )


def _optional_micro(raw: Mapping[str, object], key: str, where: str) -> int | None:
    return to_micro(raw[key], f"{where} {key}") if key in raw else None


def _contract(raw: object, index: int, default_currency: str | None) -> Contract:
    where = f"[[tariffs.contracts]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} should be a table")
    if "name" in raw:
        where = f"tariff {raw['name']!r}"
    try:
        kind = TariffKind(raw.get("kind", ""))
    except ValueError:
        kinds = ", ".join(k.value for k in TariffKind)
        raise ConfigError(
            f"{where}: kind should be one of {kinds}, got {raw.get('kind')!r}"
        ) from None
    _check_keys(raw, _COMMON | _KIND_KEYS[kind], where)
    if "from" not in raw:
        raise ConfigError(f"{where} needs 'from' (the first local day it is in force)")
    currency = raw.get("currency", default_currency)
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ConfigError(f'{where} needs a currency code like "EUR" or "GBP"')
    valid_from = _date(raw["from"], f"{where} from")
    valid_to = _date(raw["to"], f"{where} to") if "to" in raw else None
    if valid_to is not None and valid_to < valid_from:
        raise ConfigError(f"{where}: 'to' ({valid_to}) is before 'from' ({valid_from})")
    import_micro = _optional_micro(raw, "import_per_kwh", where)
    windows: tuple[Window, ...] = ()
    prices = None
    if kind is TariffKind.FIXED and import_micro is None:
        raise ConfigError(f"{where}: a fixed tariff needs import_per_kwh")
    if kind is TariffKind.TIME_OF_USE:
        raw_windows = raw.get("windows")
        if not isinstance(raw_windows, list) or not raw_windows:
            raise ConfigError(f"{where}: a time-of-use tariff needs a list of windows")
        windows = tuple(_window(w, f"{where} window #{i + 1}") for i, w in enumerate(raw_windows))
    if kind is TariffKind.DYNAMIC:
        prices = _text(raw.get("prices", raw.get("name", "")), f"{where} prices")
        import_micro = _optional_micro(raw, "markup_per_kwh", where) or 0
    return Contract(
        name=_text(raw.get("name", f"tariff {index + 1}"), f"{where} name"),
        kind=kind,
        currency=currency.upper(),
        valid_from=valid_from,
        valid_to=valid_to,
        import_micro=import_micro,
        export_micro=_optional_micro(raw, "export_per_kwh", where),
        standing_micro_per_day=_optional_micro(raw, "standing_charge_per_day", where),
        windows=windows,
        prices=prices,
    )


def parse_tariffs(table: Mapping[str, object]) -> Tariffs:
    """The ``[tariffs]`` table (as parsed TOML) as checked contracts."""
    _check_keys(table, {"currency", "contracts"}, "[tariffs]")
    default_currency = table.get("currency")
    if default_currency is not None and not isinstance(default_currency, str):
        raise ConfigError('[tariffs] currency should be a code like "EUR"')
    raw = table.get("contracts", [])
    if not isinstance(raw, list):
        raise ConfigError(
            "[tariffs] contracts should be an array of tables ([[tariffs.contracts]])"
        )
    contracts = sorted(
        (_contract(c, i, default_currency) for i, c in enumerate(raw)),
        key=lambda c: c.valid_from,
    )
    for a, b in itertools.pairwise(contracts):
        if a.valid_to is None or a.valid_to >= b.valid_from:
            raise ConfigError(
                f"tariffs overlap: {a.label()} and {b.label()}; give the earlier one a 'to' "
                f"before {b.valid_from}"
            )
    currencies = sorted({c.currency for c in contracts})
    if len(currencies) > 1:
        raise ConfigError(f"all tariffs must use one currency, found {', '.join(currencies)}")
    return Tariffs(tuple(contracts))


def load_tariffs(path: Path | None = None) -> Tariffs | None:
    """The tariffs of the config file, or None when it has no ``[tariffs]`` table."""
    from .config import config_table

    table = config_table("tariffs", path)
    return None if table is None else parse_tariffs(table)
