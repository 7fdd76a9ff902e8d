"""``zapledger metrics`` and ``zapledger collect --metrics-port`` as processes, scraped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from zapledger.cli import main
from zapledger.models import parse_zappi
from zapledger.simulator import Simulator
from zapledger.store import open_store

HUB = "10033333"
KEY = "metrics-cli-key-8080"
FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from zapledger.cli import run; run()", *args],
        env=os.environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def scrape_until(url: str, name: str, proc: subprocess.Popen[str]) -> dict[str, float]:
    """Scrape until a sample named ``name`` shows up (bounded); samples by name and labels."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            text = httpx.get(url, timeout=5).text
        except httpx.HTTPError:
            text = ""
        found = {
            f"{s.name}{sorted(s.labels.items())}": s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        if any(k.startswith(name) for k in found):
            return found
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no {name} at {url}: {proc.communicate(timeout=10)[1]}")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_metrics_serves_the_newest_stored_snapshot(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "status_zappi_example.json").read_text())["zappi"][0]
    db = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    fetched = datetime.now(UTC).replace(microsecond=0)
    with open_store(db) as store:
        store.upsert_device(str(raw["sno"]), "zappi")
        store.add_status(parse_zappi(raw), fetched)
    port = free_port()
    proc = run_cli(["metrics", "--port", str(port), "--refresh", "0.5"], {"ZAPLEDGER_DB": db})
    got = scrape_until(f"http://127.0.0.1:{port}/metrics", "zapledger_zappi_power_watts", proc)
    stop(proc)
    sn = str(raw["sno"])
    assert got[f"zapledger_zappi_power_watts{[('role', 'grid'), ('serial', sn)]}"] == raw["grd"]
    assert got[f"zapledger_last_poll_timestamp_seconds{[('serial', sn)]}"] == fetched.timestamp()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY) as s:
        yield s


def test_collect_serves_its_polls_as_metrics(sim: Simulator, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "ZAPLEDGER_DIRECTOR_URL": sim.url,
        "ZAPLEDGER_HUB_SERIAL": HUB,
        "ZAPLEDGER_API_KEY": KEY,
        "ZAPLEDGER_DB": f"sqlite:///{tmp_path / 'c.sqlite3'}",
    }
    args = [
        *("collect", "--tz", "Europe/London", "--status-interval", "0.5", "--max-rate", "20"),
        *("--hour-period", "3600", "--minute-period", "3600", "--metrics-port", str(port)),
    ]
    proc = run_cli(args, env)
    got = scrape_until(f"http://127.0.0.1:{port}/metrics", "zapledger_zappi_mode", proc)
    err = stop(proc)
    assert [k for k, v in got.items() if k.startswith("zapledger_zappi_mode") and v == 1]
    assert KEY not in err


def _sigterm_when(ready: Callable[[], bool], seen: list[bool]) -> threading.Thread:
    """A thread that waits (bounded) for ``ready()`` and then asks this process to stop."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ready():
                seen.append(True)
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)  # the command's handler sets its stop event

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_the_metrics_command_runs_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.loads((FIXTURES / "status_zappi_example.json").read_text())["zappi"][0]
    db = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    with open_store(db) as store:
        store.add_status(parse_zappi(raw), datetime.now(UTC))
    monkeypatch.setenv("ZAPLEDGER_DB", db)
    port = free_port()

    def serving() -> bool:
        try:
            return "zapledger_zappi_mode" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        except httpx.HTTPError:
            return False

    seen: list[bool] = []
    thread = _sigterm_when(serving, seen)
    code = main(["metrics", "--port", str(port), "--refresh", "0.2", "--serial", str(raw["sno"])])
    thread.join()
    assert (code, seen) == (0, [True])


def test_bad_intervals_are_usage_errors() -> None:
    assert main(["metrics", "--refresh", "0"]) == 2
    assert main(["mqtt", "--interval", "0"]) == 2
