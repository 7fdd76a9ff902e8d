"""``zapledger mqtt`` as a process: it logs in with a password file, says online, and its last will
says offline when it dies; a SIGTERM ends it cleanly. Neither key nor password reach its output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mosquitto_server import Mosquitto, running_mosquitto
from test_mqtt import BASE, Watcher, watching
from zapledger.simulator import Simulator

HUB = "10066666"
KEY = "mqtt-cli-key-4242"
PASSWORD = "cli-broker-pass-77"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, now=NOW) as s:
        yield s


def start_bridge(sim: Simulator, broker: Mosquitto, tmp_path: Path) -> subprocess.Popen[str]:
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")
    env = dict(os.environ)
    env.update(
        ZAPLEDGER_DIRECTOR_URL=sim.url,
        ZAPLEDGER_HUB_SERIAL=HUB,
        ZAPLEDGER_API_KEY=KEY,
        ZAPLEDGER_DB=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from zapledger.cli import run; run()",
            "mqtt",
            "--port",
            str(broker.port),
            "--username",
            "bridge",
            "--password-file",
            str(secret),
            "--interval",
            "0.5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def availability(w: Watcher) -> list[bytes]:
    return [m.payload for m in w.on(f"{BASE}/availability")]


async def test_online_offline_and_the_last_will(sim: Simulator, tmp_path: Path) -> None:
    users = {"bridge": PASSWORD, "ha": "ha-secret"}
    with running_mosquitto(tmp_path, users=users) as broker:
        async with watching(broker, username="ha", password="ha-secret") as w:
            proc = start_bridge(sim, broker, tmp_path)
            await w.wait_for("online", lambda: availability(w)[-1:] == [b"online"])
            await w.wait_for("a state", lambda: w.on(f"{BASE}/16000001/state"))
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
            await w.wait_for("offline", lambda: availability(w)[-1:] == [b"offline"])
            assert "stopped:" in err
            assert PASSWORD not in out + err and KEY not in out + err

            killed = start_bridge(sim, broker, tmp_path)
            await w.wait_for("online again", lambda: availability(w)[-1:] == [b"online"])
            killed.kill()  # no goodbye: the broker publishes the last will
            killed.communicate(timeout=20)
            await w.wait_for("the last will", lambda: availability(w)[-1:] == [b"offline"])
