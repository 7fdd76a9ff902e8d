"""``zapledger ha import``: a year of demo history into the stand-in Home Assistant.

Expected sums are computed from the simulator's wire records (what was stored), not by the code
under test: every hour's sum must equal the running total of the stored joules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ha_server import TOKEN, FakeHomeAssistant
from zapledger.cli import main
from zapledger.cli._common import state
from zapledger.models import Resolution, parse_history
from zapledger.simulator import Household
from zapledger.store import open_store

SERIAL = "16000001"
TZ = "Europe/London"
FIRST, LAST = date(2025, 1, 1), date(2025, 12, 31)
J_PER_KWH = 3_600_000
KEYS = ("grid_import", "grid_export", "generation", "ev_solar", "ev_grid", "ev_total", "house")


def ids(serial: str = SERIAL) -> list[str]:
    return [f"zapledger:{key}_{serial}" for key in KEYS]


def wire_joules(record: dict[str, int | str]) -> dict[str, int]:
    """One wire record's joules per quantity (docs/formulas.md: H = G + I - X - D - B)."""

    def get(key: str) -> int:
        value = record.get(key, 0)
        assert isinstance(value, int)
        return value

    imp, exp, gep = get("imp"), get("exp"), get("gep")
    diverted = get("h1d") + get("h2d") + get("h3d")
    boosted = get("h1b") + get("h2b") + get("h3b")
    return {
        "grid_import": imp,
        "grid_export": exp,
        "generation": gep,
        "ev_solar": diverted,
        "ev_grid": boosted,
        "ev_total": diverted + boosted,
        "house": gep + imp - exp - diverted - boosted,
    }


def wire_start(record: dict[str, int | str]) -> datetime:
    return datetime(
        int(record["yr"]),
        int(record["mon"]),
        int(record["dom"]),
        int(record.get("hr", 0)),
        tzinfo=UTC,
    )


@dataclass(frozen=True)
class Year:
    db: str
    #: hour start -> joules per quantity, from the wire records that were stored
    hours: dict[datetime, dict[str, int]]

    def running_total_j(self, key: str, up_to: datetime) -> int:
        """Stored joules of the hours that start at or before ``up_to``."""
        return sum(v[key] for at, v in self.hours.items() if at <= up_to)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Year:
    """A year of the simulator's hourly history (with its outages) in a SQLite file."""
    path = tmp_path_factory.mktemp("ha") / "year.sqlite3"
    household = Household(seed=1, timezone=TZ)
    hours: dict[datetime, dict[str, int]] = {}
    with open_store(f"sqlite:///{path}") as store:
        store.upsert_device(SERIAL, "zappi")
        day = FIRST
        while day <= LAST:
            records = household.day_hours(day)
            history = parse_history({f"U{SERIAL}": records}, Resolution.HOUR)
            store.upsert_history(SERIAL, Resolution.HOUR, history.records)
            hours.update((wire_start(r), wire_joules(r)) for r in records)
            day += timedelta(days=1)
    return Year(f"sqlite:///{path}", hours)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "ha-token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(autouse=True)
def _reset_cli_state() -> Iterator[None]:
    yield
    state.db_url = None


def ha_import(year: Year, ha: FakeHomeAssistant, token_file: Path, *args: str) -> int:
    """Run ``zapledger ha import`` against the stand-in; its exit code."""
    argv = ["--db", year.db, "ha", "import", "--url", ha.url, "--token-file", str(token_file)]
    return main([*argv, "--tz", TZ, *args])


def assert_sums_match(year: Year, ha: FakeHomeAssistant) -> None:
    for key, sid in zip(KEYS, ids(), strict=True):
        rows = ha.rows(sid)
        assert [at for at, _, _ in rows] == sorted(year.hours), sid
        running = 0
        for at, state_kwh, sum_kwh in rows:
            running += year.hours[at][key]
            assert abs(sum_kwh * J_PER_KWH - running) <= 1, (sid, at)
            assert abs(state_kwh * J_PER_KWH - year.hours[at][key]) <= 1, (sid, at)


def test_a_year_lands_as_hourly_statistics_equal_to_the_stored_joules(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path
) -> None:
    code = ha_import(year, ha_server, token_file)
    assert code == 0
    assert len(year.hours) > 8700  # a year of hours, less the simulated outages
    assert_sums_match(year, ha_server)
    last = max(year.hours)
    for key, sid in zip(KEYS, ids(), strict=True):
        _, _, total_kwh = ha_server.rows(sid)[-1]
        assert round(total_kwh * J_PER_KWH) == year.running_total_j(key, last)


def test_dst_days_have_23_and_25_hours_with_right_sums(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path
) -> None:
    assert ha_import(year, ha_server, token_file) == 0
    zone = ZoneInfo(TZ)
    for day, hours in ((date(2025, 3, 30), 23), (date(2025, 10, 26), 25)):
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)
        assert end - start == timedelta(hours=hours)
        stored = sorted(at for at in year.hours if start <= at < end)
        assert len(stored) == hours  # no simulated outage on these two days
        for key, sid in zip(KEYS, ids(), strict=True):
            rows = [(at, total) for at, _, total in ha_server.rows(sid) if start <= at < end]
            assert [at for at, _ in rows] == stored
            at, total_kwh = rows[-1]
            assert round(total_kwh * J_PER_KWH) == year.running_total_j(key, at)


def test_a_second_run_sends_nothing_new(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ha_import(year, ha_server, token_file) == 0
    sent = len(ha_server.imports())
    capsys.readouterr()
    assert ha_import(year, ha_server, token_file) == 0
    assert len(ha_server.imports()) == sent
    assert "up to date" in capsys.readouterr().out


def test_a_rerun_continues_after_the_last_hour_home_assistant_holds(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path
) -> None:
    assert ha_import(year, ha_server, token_file, "--to", "2025-06-30") == 0
    june_end = datetime(2025, 6, 30, 22, tzinfo=UTC)  # the last hour of the day (BST)
    assert ha_server.rows(ids()[0])[-1][0] == june_end
    before = len(ha_server.imports())
    assert ha_import(year, ha_server, token_file) == 0
    new = ha_server.imports()[before:]
    later = sum(1 for at in year.hours if at > june_end)
    assert {count for _, _, count in new} <= {1000, later % 1000}
    assert sum(count for _, _, count in new) == later * len(KEYS)
    assert_sums_match(year, ha_server)


def test_from_replaces_the_same_hours_with_the_same_sums(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path
) -> None:
    assert ha_import(year, ha_server, token_file) == 0
    before = {sid: ha_server.rows(sid) for sid in ids()}
    sent = len(ha_server.imports())
    assert ha_import(year, ha_server, token_file, "--from", "2025-10-26") == 0
    again = ha_server.imports()[sent:]
    start = datetime(2025, 10, 26, tzinfo=ZoneInfo(TZ)).astimezone(UTC)
    assert sum(c for _, _, c in again) == len(KEYS) * sum(1 for at in year.hours if at >= start)
    assert {sid: ha_server.rows(sid) for sid in ids()} == before


def test_dry_run_shows_what_would_be_sent_and_sends_nothing(
    year: Year, ha_server: FakeHomeAssistant, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ha_import(year, ha_server, token_file, "--dry-run", "--json") == 0
    assert ha_server.imports() == [] and ha_server.statistics == {}
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["hours"] == len(year.hours)
    by_id = {s["statistic_id"]: s for s in report["statistics"]}
    assert sorted(by_id) == sorted(ids())
    first, last = min(year.hours), max(year.hours)
    imported = by_id[f"zapledger:grid_import_{SERIAL}"]
    assert imported["first_start"] == first.isoformat()
    assert imported["last_start"] == last.isoformat()
    assert imported["first_sum_kwh"] * J_PER_KWH == pytest.approx(
        year.hours[first]["grid_import"], abs=1
    )
    assert imported["last_sum_kwh"] * J_PER_KWH == pytest.approx(
        year.running_total_j("grid_import", last), abs=1
    )


def test_a_refused_token_exits_4_and_is_not_shown(
    year: Year, ha_server: FakeHomeAssistant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-right-token-42")
    assert ha_import(year, ha_server, wrong) == 4
    out = capsys.readouterr()
    assert "refused the access token" in out.err
    assert "not-the-right-token-42" not in out.err + out.out
    assert ha_server.auth_refused == 1 and ha_server.statistics == {}
