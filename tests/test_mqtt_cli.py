"""``zapledger mqtt`` as a process: it logs in with a password file, says online, and its last will
says offline when it dies; a SIGTERM ends it cleanly. Neither key nor password reach its output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mosquitto_server import Mosquitto, running_mosquitto
from test_mqtt import BASE, Watcher, watching
from zapledger.cli import main
from zapledger.config import Secret
from zapledger.exceptions import ConfigError
from zapledger.integrations.mqtt import BrokerOptions, read_password
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


def test_the_mqtt_command_runs_until_sigterm(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (
        ("ZAPLEDGER_DIRECTOR_URL", sim.url),
        ("ZAPLEDGER_HUB_SERIAL", HUB),
        ("ZAPLEDGER_API_KEY", KEY),
        ("ZAPLEDGER_MQTT_PASSWORD", PASSWORD),
    ):
        monkeypatch.setenv(name, value)
    with running_mosquitto(tmp_path, users={"bridge": PASSWORD}) as broker:
        seen: list[bool] = []

        def watch() -> None:
            async def until_state() -> None:
                async with watching(broker, username="bridge", password=PASSWORD) as w:
                    await w.wait_for("a state", lambda: w.on(f"{BASE}/16000001/state"))
                    seen.append(True)

            try:
                asyncio.run(until_state())
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the command's handler sets its stop event

        thread = threading.Thread(target=watch)
        thread.start()
        args = ["mqtt", "--port", str(broker.port), "--username", "bridge", "--no-energy"]
        code = main([*args, "--interval", "0.5", "--serial", "16000001"])
        thread.join()
    assert (code, seen) == (0, [True])


def test_the_password_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\nignored\n")
    assert read_password(secret, {}) == Secret("from-file")
    assert read_password(None, {"ZAPLEDGER_MQTT_PASSWORD": "from-env"}) == Secret("from-env")
    assert read_password(None, {}) is None
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        read_password(tmp_path / "empty", {})
    with pytest.raises(ConfigError, match="cannot read"):
        read_password(tmp_path / "missing", {})
    with pytest.raises(ConfigError, match="no password line"):
        read_password(Path("/dev/zero"), {})  # read bounded, not to the end
    assert "from-file" not in repr(BrokerOptions(password=read_password(secret, {})))


def test_a_missing_password_file_is_a_config_error(tmp_path: Path) -> None:
    assert main(["mqtt", "--password-file", str(tmp_path / "nope")]) == 3
