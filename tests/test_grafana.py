"""The Grafana dashboards in contrib/grafana: every query names what really exists.

The Prometheus dashboard's metric names must be in the exporter's output, and each expression is
run by the real Prometheus server; the PostgreSQL dashboard's SQL runs on the suite's real
PostgreSQL server against a schema made by ``open_store``, and the daily balance it draws equals
the library's balance report to the watt-hour.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pg_server import PgServer
from prometheus_server import running_prometheus
from zapledger.backfill import sync
from zapledger.client import Client
from zapledger.demo import demo_meters
from zapledger.integrations.metrics import LiveValues, MetricsServer
from zapledger.models import Energy, Resolution, parse_zappi
from zapledger.report import balance
from zapledger.simulator import Simulator
from zapledger.store import open_store

DASHBOARDS = Path(__file__).parents[1] / "contrib" / "grafana"
PROM = DASHBOARDS / "zapledger-prometheus.json"
PG = DASHBOARDS / "zapledger-postgres.json"
FIXTURES = Path(__file__).parent / "fixtures"
HUB, KEY, ZAPPI = "10022222", "grafana-test-key-99", "16000001"
TZ = "Europe/London"
FIRST, LAST = date(2024, 6, 12), date(2024, 6, 14)
FROM_S = int(datetime(2024, 6, 11, tzinfo=UTC).timestamp())
#: The topics every dashboard pair must show (issue 13), by words of their panel titles.
TOPICS = ("power", "daily balance", "ev solar share", "reconciliation deviation", "staleness")


def panels(path: Path) -> list[dict[str, Any]]:
    board: dict[str, Any] = json.loads(path.read_text())
    return list(board["panels"])


def test_both_dashboards_show_the_asked_topics() -> None:
    titles = " | ".join(p["title"].lower() for path in (PROM, PG) for p in panels(path))
    assert all(topic in titles for topic in TOPICS), titles


# --- Prometheus ------------------------------------------------------------------------------


def exporter_with_values() -> MetricsServer:
    raw = json.loads((FIXTURES / "status_zappi_example.json").read_text())["zappi"][0]
    values = LiveValues()
    values.observe(parse_zappi(raw | {"sno": ZAPPI}), datetime.now(UTC))
    values.set_energy({ZAPPI: Energy(7200000, 3600000, 36000000, 0, 3600000, 1800000)})
    return MetricsServer(values, port=0)


def exported_names(server: MetricsServer) -> set[str]:
    text = server.render().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def prom_exprs() -> list[str]:
    return [t["expr"] for p in panels(PROM) for t in p["targets"]]


def test_every_prometheus_panel_names_exported_metrics() -> None:
    names = exported_names(exporter_with_values())
    used = {m for expr in prom_exprs() for m in re.findall(r"\bzapledger_\w+", expr)}
    assert used, "the dashboard queries no zapledger metric"
    assert used - names == set()
    board = json.loads(PROM.read_text())
    (variable,) = board["templating"]["list"]
    assert set(re.findall(r"\bzapledger_\w+", variable["definition"])) <= names


def test_every_prometheus_expression_runs_on_the_real_server(tmp_path: Path) -> None:
    with (
        exporter_with_values() as server,
        running_prometheus(f"127.0.0.1:{server.port}", tmp_path) as prom,
    ):
        prom.wait_for(f'zapledger_zappi_power_watts{{serial="{ZAPPI}"}}')
        for expr in prom_exprs():
            concrete = expr.replace("$serial", ZAPPI)
            prom.query(concrete)  # a syntax error is an HTTP 400
        (power,) = prom.query(f'zapledger_zappi_power_watts{{serial="{ZAPPI}",role="grid"}}')
    assert float(power["value"][1]) == 4965  # grd of the fixture


# --- PostgreSQL ------------------------------------------------------------------------------


def expand(sql: str, serial: str, until_s: int) -> str:
    """Grafana's macros and the dashboard's variables, as Grafana would fill them in."""
    out = re.sub(r"\$__unixEpochFilter\((\w+)\)", rf"\1 >= {FROM_S} AND \1 <= {until_s}", sql)
    out = out.replace("$__unixEpochFrom()", str(FROM_S)).replace("$__unixEpochTo()", str(until_s))
    out = out.replace("$serial", serial).replace("$tz", TZ)
    assert "$" not in out, out
    return out


@pytest.fixture(scope="module")
def filled(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL store with three days of hour history, status snapshots and meter readings
    (made once: the tests only read it)."""
    url = pg_server.create_schema()

    async def fill(sim: Simulator) -> None:
        async with Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None) as client:
            with open_store(url) as store:
                await sync(store, FIRST, LAST, TZ, client=client, resolutions=[Resolution.HOUR])
                for _ in range(2):
                    site = await client.site_status()
                    store.add_status(site.zappi(ZAPPI), datetime.now(UTC))
                out_dir = tmp_path_factory.mktemp("meters")
                demo_meters(store, FIRST, LAST, TZ, household=sim.household, out_dir=out_dir)

    with Simulator(hub_serial=HUB, api_key=KEY) as sim:
        asyncio.run(fill(sim))
    yield url
    pg_server.drop(url)


def run_sql(url: str, sql: str) -> list[tuple[Any, ...]]:
    conninfo, _, query = url.partition("?")
    options = query.split("options=", 1)[1].replace("%3D", "=") if query else ""
    with psycopg.connect(conninfo, options=options) as conn:
        return list(conn.execute(sql.encode()).fetchall())


def pg_sql() -> dict[str, str]:
    return {p["title"]: t["rawSql"] for p in panels(PG) for t in p["targets"]}


@pytest.mark.postgres
def test_every_postgres_panel_runs_on_the_store_schema(filled: str) -> None:
    until = int(datetime.now(UTC).timestamp())
    board = json.loads(PG.read_text())
    serial_query = board["templating"]["list"][0]["query"]
    assert run_sql(filled, serial_query) == [(ZAPPI,)]
    results = {title: run_sql(filled, expand(sql, ZAPPI, until)) for title, sql in pg_sql().items()}
    assert all(results.values()), {t: len(r) for t, r in results.items()}
    (stale,) = results["Staleness"]
    assert all(value is not None and value >= 0 for value in stale)
    deviations = results["Reconciliation deviation (grid import, meter vs zappi)"]
    assert len(deviations) == (LAST - FIRST).days + 1
    assert all(math.isfinite(d) and abs(d) < 10 for _, d in deviations)


@pytest.mark.postgres
def test_the_daily_balance_panel_equals_the_balance_report(filled: str) -> None:
    until = int(datetime.now(UTC).timestamp())
    rows = run_sql(filled, expand(pg_sql()["Daily balance"], ZAPPI, until))
    drawn = {row[0]: row[1:] for row in rows}
    with open_store(filled) as store:
        report = balance(store, FIRST, LAST, TZ, serial=ZAPPI)
    assert len(report.rows) == 3
    for period in report.rows:
        e = period.energy
        expected = [e.import_j, e.export_j, e.generation_j, e.diverted_j, e.boosted_j, e.house_j]
        got = [round(float(v) * 3.6e6) for v in drawn[period.start]]
        assert got == pytest.approx(expected, abs=1), period.label
