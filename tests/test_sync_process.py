"""``zapledger sync`` as a real process: kill -9 and resume, and a reader beside the writer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from zapledger.simulator import Simulator
from zone_windows import day_window

HUB = "10066666"
KEY = "process-test-key-5c4b"
NOW = datetime(2024, 12, 1, 12, tzinfo=UTC)
SINCE = date(2024, 2, 1)
UNTIL = date(2024, 3, 11)  # 40 local days
TZ = "Europe/Amsterdam"
CLI = "from zapledger.cli import run; run()"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=9, hub_serial=HUB, api_key=KEY, now=NOW, latency_ms=60) as s:
        yield s


def env_for(sim: Simulator, db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ZAPLEDGER_DIRECTOR_URL=sim.url,
        ZAPLEDGER_HUB_SERIAL=HUB,
        ZAPLEDGER_API_KEY=KEY,
        ZAPLEDGER_DB=f"sqlite:///{db}",
        ZAPLEDGER_TZ=TZ,
    )
    return env


def sync_args(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        CLI,
        "sync",
        "--since",
        SINCE.isoformat(),
        "--until",
        UNTIL.isoformat(),
        "--max-rate",
        "100",
        *extra,
    ]


def committed_days(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM sync_state").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row that matters, in key order; fetch times differ from run to run by nature."""
    with sqlite3.connect(db) as conn:
        return {
            "minute": conn.execute("SELECT * FROM history_minute ORDER BY serial, ts").fetchall(),
            "hour": conn.execute("SELECT * FROM history_hour ORDER BY serial, ts").fetchall(),
            "state": conn.execute(
                "SELECT serial, resolution, day_start, day, tz, records, expected, missing, "
                "duplicates_dropped, suspect, final, attempts, error FROM sync_state "
                "ORDER BY serial, resolution, day_start"
            ).fetchall(),
        }


def assert_whole_days(db: Path) -> None:
    """Every committed day holds exactly the rows its sync state counts: no half day."""
    with sqlite3.connect(db) as conn:
        states = conn.execute("SELECT resolution, day, records FROM sync_state").fetchall()
        for resolution, day, records in states:
            start, end = day_window(date.fromisoformat(day), TZ)
            (n,) = conn.execute(
                f"SELECT COUNT(*) FROM history_{resolution} WHERE ts >= ? AND ts < ?",
                (int(start.timestamp()), int(end.timestamp())),
            ).fetchone()
            assert n == records, (resolution, day)


def test_kill_9_during_a_sync_then_resume_gives_the_rows_of_an_uninterrupted_run(
    sim: Simulator, tmp_path: Path
) -> None:
    reference = tmp_path / "reference.sqlite3"
    done = subprocess.run(
        sync_args(), env=env_for(sim, reference), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    db = tmp_path / "killed.sqlite3"
    proc = subprocess.Popen(
        sync_args("--concurrency", "2"),
        env=env_for(sim, db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while committed_days(db) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    partial = committed_days(db)
    assert 8 <= partial < 80, "the sync should have been killed half-way"
    assert_whole_days(db)

    resumed = subprocess.run(
        sync_args(), env=env_for(sim, db), capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_whole_days(db)
    assert dump(db) == dump(reference)
    assert len(dump(db)["state"]) == 80


READER = """
import sys, time
from zapledger.store import open_store
from zapledger.quality import data_quality
from zapledger.models import Resolution
reads = 0
with open_store(sys.argv[1]) as store:
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        data_quality(store, None, None, "Europe/Amsterdam")
        store.count_history(None, Resolution.MINUTE)
        reads += 1
print(reads)
"""


def test_a_reader_process_beside_the_writer_sees_no_lock_error(
    sim: Simulator, tmp_path: Path
) -> None:
    db = tmp_path / "shared.sqlite3"
    writer = subprocess.Popen(
        sync_args("--concurrency", "2"),
        env=env_for(sim, db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while committed_days(db) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    reader = subprocess.run(
        [sys.executable, "-c", READER, f"sqlite:///{db}", "1.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert reader.returncode == 0, reader.stderr
    assert int(reader.stdout.strip()) > 3
    assert "locked" not in err + reader.stderr
    assert committed_days(db) == 80
