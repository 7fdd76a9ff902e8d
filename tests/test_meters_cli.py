"""``zapledger meter read``, ``meter import`` and ``reconcile`` end to end (loopback only)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zapledger.cli import main
from zapledger.cli._common import state
from zapledger.cli._meter import print_reconcile_summary
from zapledger.models import Resolution, parse_history
from zapledger.reconciliation import reconcile
from zapledger.simulator import Household, QuirkRates
from zapledger.simulator.meterdata import MeterModel, write_csv, write_dsmr5
from zapledger.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
SERIAL = "16000001"
T0 = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    yield url
    state.db_url = None


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_prints_counts_and_positions(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "--db", db, "meter", "import", str(FIXTURES / "dsmr_v5_bad_inputs.txt")
    )
    assert code == 0
    assert "9 read, 3 used, 12 readings stored" in out
    assert "8 issues (bad input is never stored)" in out
    assert "crc" in out and "line 24, byte" in out
    code, out, _ = _run(
        capsys,
        "--db", db, "meter", "import", "--json", "--tz", "Europe/Amsterdam",
        str(FIXTURES / "meter_totals.csv"), str(FIXTURES / "dsmr_v22_kamstrup.txt"),
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert [d["accepted"] for d in data] == [4, 3]
    assert data[0]["issues"][0]["line"] == 6
    with open_store(db) as store:
        assert len(store.meters()) == 6 + 4 + 4  # csv, P1 (DSMR 5) and Kamstrup channels


def test_import_plain_capture_with_start(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    plain = str(FIXTURES / "dsmr_v22_plain.txt")
    code, _, err = _run(capsys, "--db", db, "meter", "import", plain)
    assert code == 6
    assert "no usable readings" in err
    code, out, _ = _run(
        capsys, "--db", db, "meter", "import", plain, "--dsmr", "2.2",
        "--start", "2026-01-15T11:00:00Z", "--interval", "10", "--meter-id", "old",
    )  # fmt: skip
    assert code == 0
    assert "4 used" in out and "meter old" in out
    for bad in (["--start", "soon"], ["--start", "2026-01-15T11:00:00"]):
        code, _, err = _run(capsys, "--db", db, "meter", "import", plain, *bad)
        assert code == 2
        assert "--start" in err


class _Feeder:
    def __init__(self, data: bytes) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.data = data
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.sendall(self.data)
        self.server.close()


def test_read_tcp_with_capture(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feeder = _Feeder((FIXTURES / "dsmr_v5_three.txt").read_bytes())
    capture = tmp_path / "capture.txt"
    code, out, _ = _run(
        capsys, "--db", db, "meter", "read", "--tcp", f"127.0.0.1:{feeder.port}",
        "--no-reconnect", "--every", "0", "--capture", str(capture),
    )  # fmt: skip
    feeder.thread.join(5)
    assert code == 0, out
    assert "3 read, 3 used, 12 readings stored" in out
    assert capture.read_text().count("# received ") == 3
    code, out, _ = _run(capsys, "--db", db, "meter", "read", "--tcp", "nohost")
    assert code == 2


def test_read_serial_on_a_pty(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    data = (FIXTURES / "dsmr_v22_plain.txt").read_bytes()

    def feed() -> None:
        time.sleep(0.3)
        os.write(master, data)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        code, out, _ = _run(
            capsys, "--db", db, "meter", "read", "--port", os.ttyname(slave),
            "--dsmr", "2.2", "--count", "4",
        )  # fmt: skip
    finally:
        thread.join(5)
        os.close(master)
        os.close(slave)
    assert code == 0, out
    assert "4 read, 4 used" in out
    assert "thinned" in out  # readings within --every 60 s of each other


def test_read_needs_exactly_one_source(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--db", db, "meter", "read")
    assert code == 2
    assert "exactly one" in err
    code, _, err = _run(
        capsys, "--db", db, "meter", "read", "--port", "/dev/null-zapledger-missing"
    )
    assert code == 6


class _HomeWizardHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"unique_id": "4B38", "total_power_import_t1_kwh": 1.5}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_read_homewizard(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HomeWizardHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, out, _ = _run(
            capsys, "--db", db, "meter", "read", "--homewizard",
            f"127.0.0.1:{server.server_address[1]}", "--count", "2", "--interval", "1",
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, out
    assert "2 read, 2 used" in out
    assert "meter K8" in out


@pytest.fixture
def reconciled_db(db: str, tmp_path: Path) -> str:
    household = Household(seed=11, quirk_rates=QuirkRates.none())
    first = date(2025, 5, 8)
    start = datetime(2025, 5, 7, 22, tzinfo=UTC)
    end = datetime(2025, 5, 10, 2, tzinfo=UTC)
    model = MeterModel(calibration_pct={"import": 2.0}, meter_id="P1")
    d5 = write_dsmr5(tmp_path / "p1.txt", household, start, end, interval_s=600, model=model)
    pv = write_csv(tmp_path / "pv.csv", household, start, end, channels=("pv",))
    with open_store(db) as store:
        store.upsert_device(SERIAL, "zappi")
        for day in (first, first + timedelta(days=1)):
            records = parse_history({f"U{SERIAL}": household.day_hours(day)}, Resolution.HOUR)
            store.upsert_history(SERIAL, Resolution.HOUR, records.records)
    assert main(["--db", db, "meter", "import", str(d5), str(pv)]) == 0
    return db


def test_reconcile_outputs(
    reconciled_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    base = ["--db", reconciled_db, "reconcile", "--from", "2025-05-08", "--to", "2025-05-09"]
    chart = tmp_path / "c.png"
    code, out, _ = _run(capsys, *base, "--tz", "UTC", "--chart", str(chart))
    assert code == 0, out
    assert "2025-05-08" in out and "import" in out and "generation" in out
    assert "Bias" in out and "+2.0" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = _run(capsys, *base, "--tz", "UTC", "--csv", "--by", "hour")
    lines = out.splitlines()
    assert lines[0].startswith("period,pair,start,end,hours")
    assert len(lines) == 1 + 3 * 48  # import, export, generation
    code, out, _ = _run(capsys, *base, "--tz", "UTC", "--json", "--meter", "P1")
    data = json.loads(out)
    assert [s["pair"] for s in data["summaries"]] == ["import", "export"]
    assert data["summaries"][0]["bias_pct"] == pytest.approx(2.0, abs=0.1)
    code, out, _ = _run(capsys, *base, "--tz", "UTC", "--period", "month", "--serial", SERIAL)
    assert code == 0 and "2025-05" in out


def test_reconcile_argument_errors(reconciled_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    base = ["--db", reconciled_db, "reconcile"]
    for args in (
        ["--from", "2025-05-09", "--to", "2025-05-08"],
        ["--from", "2025-05-08", "--csv", "--json"],
        ["--from", "yesterday"],
    ):
        code, _, _ = _run(capsys, *base, *args, "--tz", "UTC")
        assert code == 2, args
    code, _, _ = _run(capsys, *base, "--from", "2025-05-08", "--tz", "Mars/Olympus")
    assert code == 3


def test_print_summary_of_nothing(reconciled_db: str) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    with open_store(reconciled_db) as store:
        report = reconcile(
            store, date(2025, 5, 8), date(2025, 5, 8), "UTC", serial=SERIAL, meter_ids=["x"]
        )
        print_reconcile_summary(console, report)
        full = reconcile(store, date(2025, 5, 8), date(2025, 5, 8), "UTC", serial=SERIAL)
        print_reconcile_summary(console, full)
    text = console.export_text()
    assert "nothing to compare" in text
    assert "import: imp vs P1 import T1+T2" in text
    assert "worst hours:" in text


def test_demo_meters(tmp_path: Path) -> None:
    from rich.console import Console

    from zapledger.cli._meter import print_demo_meters
    from zapledger.demo import demo_meters

    household = Household(seed=1, timezone="Europe/London")
    first, last = date(2026, 10, 24), date(2026, 10, 25)  # the clocks go back on the 25th
    console = Console(record=True, width=160)
    with open_store("sqlite:///:memory:") as store:
        for day in (first - timedelta(days=1), first, last):
            for resolution, records in (
                (Resolution.HOUR, household.day_hours(day)),
                (Resolution.MINUTE, household.day_minutes(day)),
            ):
                history = parse_history({f"U{SERIAL}": records}, resolution)
                store.upsert_history(SERIAL, resolution, history.records)
        result = demo_meters(
            store,
            first,
            last,
            "Europe/London",
            household=household,
            out_dir=tmp_path / "demo",
            serial=SERIAL,
        )
    print_demo_meters(console, result)
    report = result.report
    text = console.export_text()
    assert "meter_p1_dsmr5.txt" in text and "zappi vs meters" in text
    assert (tmp_path / "demo" / "reconcile.png").is_file()
    assert report.summary("import").hours == 24 + 25
    assert report.summary("import").bias_pct == pytest.approx(1.5, abs=0.15)
