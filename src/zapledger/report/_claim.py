"""What each charge session cost, minute by minute, and the company-car claim of a month.

A session's minutes (``zapledger.sessions``: ``(start, diverted_j, boosted_j)``) are priced at the
tariff in force in each minute: grid energy at the import price, solar energy at the export price
it could have earned, and the claim at the import price for every kWh (what the energy would have
cost from the grid). A minute with energy but without a price makes the session's amounts unknown
(counted, never 0). Formulas in docs/formulas.md; the claim's files in docs/tariffs.md.
"""

from __future__ import annotations

import calendar
import csv
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import UsageError
from ..localtime import to_local
from ..models import joules_to_kwh
from ..prices import PriceBook, price_book
from ..store import Store
from ..tariffs import Tariffs
from ._cost import Amount

__all__ = [
    "CLAIM_COLUMNS",
    "Claim",
    "SessionCost",
    "claim_of",
    "cost_sessions",
    "parse_month",
    "reimbursement",
    "session_cost",
    "write_claim",
]

_HOUR = timedelta(hours=1)


class _Minute(Protocol):
    @property
    def start(self) -> datetime: ...
    @property
    def diverted_j(self) -> int: ...
    @property
    def boosted_j(self) -> int: ...


class _Session(Protocol):
    @property
    def serial(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def minutes(self) -> Sequence[_Minute]: ...


@dataclass(frozen=True, slots=True)
class SessionCost:
    """One session with its energy and money; amounts in the tariffs' currency."""

    serial: str
    start: datetime
    end: datetime
    diverted_j: int
    boosted_j: int
    tariffs: tuple[str, ...]
    grid_cost: Amount
    solar_value: Amount
    claim: Amount

    @property
    def energy_j(self) -> int:
        return self.diverted_j + self.boosted_j

    def as_dict(self, tz: str) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "start_utc": self.start.isoformat(),
            "end_utc": self.end.isoformat(),
            "start_local": to_local(self.start, tz).isoformat(),
            "end_local": to_local(self.end, tz).isoformat(),
            "kwh": round(joules_to_kwh(self.energy_j), 3),
            "solar_kwh": round(joules_to_kwh(self.diverted_j), 3),
            "grid_kwh": round(joules_to_kwh(self.boosted_j), 3),
            "tariffs": "; ".join(self.tariffs),
            "currency": self.claim.currency,
            "grid_cost": self.grid_cost.json(),
            "solar_value": self.solar_value.json(),
            "claim": self.claim.json(),
            "unpriced_minutes": self.claim.unpriced,
        }


def session_cost(session: _Session, book: PriceBook) -> SessionCost:
    """Price every stored minute of ``session`` at the prices of ``book``."""
    currency = book.currency
    grid = solar = claim = 0
    unpriced_imp = unpriced_exp = 0
    names: list[str] = []
    diverted = boosted = 0
    for m in session.minutes:
        energy = m.diverted_j + m.boosted_j
        if energy == 0:
            continue  # an idle minute costs nothing, whatever its price
        diverted += m.diverted_j
        boosted += m.boosted_j
        imp, exp, name = book.at(m.start)
        if name is not None and name not in names:
            names.append(name)
        if imp is None:
            unpriced_imp += 1
        else:
            grid += m.boosted_j * imp
            claim += energy * imp
        if exp is None:
            unpriced_exp += m.diverted_j > 0
        else:
            solar += m.diverted_j * exp
    return SessionCost(
        session.serial,
        session.start,
        session.end,
        diverted,
        boosted,
        tuple(names),
        Amount(currency, grid, unpriced_imp),
        Amount(currency, solar, unpriced_exp),
        Amount(currency, claim, unpriced_imp),
    )


def cost_sessions(
    store: Store, sessions: Sequence[_Session], tariffs: Tariffs, tz: str
) -> list[SessionCost]:
    """Each session priced minute by minute (one price book spans them all)."""
    if not sessions:
        return []
    first = min(s.start for s in sessions).replace(minute=0, second=0, microsecond=0)
    last = max(s.end for s in sessions)
    end = last.replace(minute=0, second=0, microsecond=0)
    end = end if end == last else end + _HOUR
    book = price_book(store, tariffs, tz, first, end)
    return [session_cost(s, book) for s in sessions]


#: Columns of the claim CSV, in order.
CLAIM_COLUMNS = (
    "serial",
    "start_local",
    "end_local",
    "start_utc",
    "end_utc",
    "kwh",
    "solar_kwh",
    "grid_kwh",
    "tariffs",
    "currency",
    "claim",
    "grid_cost",
    "solar_value",
    "unpriced_minutes",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """The company-car claim of one month: its sessions and totals."""

    month: str
    tz: str
    currency: str
    sessions: tuple[SessionCost, ...]

    @property
    def energy_j(self) -> int:
        return sum(s.energy_j for s in self.sessions)

    @property
    def total(self) -> Amount:
        out = Amount(self.currency)
        for s in self.sessions:
            out = out + s.claim
        return out

    @property
    def tariffs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for s in self.sessions for t in s.tariffs))


def claim_of(month: str, tz: str, tariffs: Tariffs, costs: Iterable[SessionCost]) -> Claim:
    return Claim(month, tz, tariffs.currency, tuple(costs))


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` as its first and last day; a UsageError otherwise."""
    try:
        first = date.fromisoformat(f"{text.strip()}-01")
    except ValueError:
        raise UsageError(f"{text!r} is not a month like 2025-03") from None
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first, last


def reimbursement(
    store: Store,
    month: str,
    tz: str,
    tariffs: Tariffs,
    *,
    serial: str | None = None,
    pause: timedelta | None = None,
    now: datetime | None = None,
) -> Claim:
    """The claim of the sessions that started in the local month ``YYYY-MM``, each priced minute
    by minute at the tariff in force (reads the store only)."""
    from ..sessions import DEFAULT_PAUSE, sessions

    first, last = parse_month(month)
    found = sessions(
        store, first, last, tz, serial=serial, pause=pause or DEFAULT_PAUSE, now=now
    ).sessions
    return claim_of(f"{first:%Y-%m}", tz, tariffs, cost_sessions(store, found, tariffs, tz))


def _csv(claim: Claim) -> str:
    fh = io.StringIO()
    writer = csv.DictWriter(fh, fieldnames=CLAIM_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in claim.sessions:
        row = s.as_dict(claim.tz)
        writer.writerow({k: "" if row[k] is None else row[k] for k in CLAIM_COLUMNS})
    total = claim.total
    writer.writerow(
        {
            "serial": "TOTAL",
            "kwh": round(joules_to_kwh(claim.energy_j), 3),
            "tariffs": "; ".join(claim.tariffs),
            "currency": claim.currency,
            "claim": total.json() or "",
            "unpriced_minutes": total.unpriced,
        }
    )
    return fh.getvalue()


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.5em; text-align: right; }}
th:first-child, td:first-child, td.text {{ text-align: left; }}
tfoot td {{ font-weight: bold; }}
@media print {{ body {{ margin: 0; }} }}
</style></head>
<body>
<h1>{title}</h1>
<p>Charger {serials}; times in {tz}; tariff(s): {tariffs}. Amounts in {currency}; each minute
of charging is priced at the import price in force in that minute.{note}</p>
<table>
<thead><tr><th>Start</th><th>End</th><th>kWh</th><th>of which solar</th><th>Tariff</th>
<th>Amount ({currency})</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><td>Total ({count} sessions)</td><td></td><td>{kwh}</td><td>{solar}</td><td></td>
<td>{total}</td></tr></tfoot>
</table>
<p>Signature: ______________________ &nbsp; Date: ____________</p>
</body></html>
"""


def _html(claim: Claim) -> str:
    def local(ts: datetime) -> str:
        return to_local(ts, claim.tz).strftime("%Y-%m-%d %H:%M")

    rows = "\n".join(
        f"<tr><td>{local(s.start)}</td><td>{local(s.end)}</td>"
        f"<td>{joules_to_kwh(s.energy_j):.3f}</td><td>{joules_to_kwh(s.diverted_j):.3f}</td>"
        f'<td class="text">{html.escape(", ".join(s.tariffs))}</td><td>{s.claim.text()}</td></tr>'
        for s in claim.sessions
    )
    total = claim.total
    note = (
        f" <strong>{total.unpriced} minute(s) of charging have no price: amounts marked +? "
        "are incomplete.</strong>"
        if total.unpriced
        else ""
    )
    return _PAGE.format(
        title=html.escape(f"EV charging reimbursement claim {claim.month}"),
        serials=html.escape(", ".join(sorted({s.serial for s in claim.sessions})) or "-"),
        tz=html.escape(claim.tz),
        tariffs=html.escape(", ".join(claim.tariffs) or "-"),
        currency=html.escape(claim.currency),
        note=note,
        rows=rows,
        count=len(claim.sessions),
        kwh=f"{joules_to_kwh(claim.energy_j):.3f}",
        solar=f"{joules_to_kwh(sum(s.diverted_j for s in claim.sessions)):.3f}",
        total=total.text(),
    )


def write_claim(claim: Claim, out_dir: Path | str, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``claim-MONTH.csv`` and the printable ``claim-MONTH.html``; returns both paths.
    Existing files are refused (OutputError) unless ``force``."""
    from ..outputs import claim as claim_paths
    from ..outputs import output_file, prepare_dir

    folder = Path(out_dir)
    csv_path = folder / f"claim-{claim.month}.csv"
    html_path = folder / f"claim-{claim.month}.html"
    claim_paths([csv_path, html_path], force=force)
    prepare_dir(folder)
    for path, text in ((csv_path, _csv(claim)), (html_path, _html(claim))):
        with output_file(path, force=force) as fh:
            fh.write(text.encode("utf-8"))
    return csv_path, html_path
