"""The MQTT bridge against a real broker (Debian's mosquitto) and the simulated cloud.

A subscriber checks every discovery payload against the conventions of
``shared/reference/home-assistant.md`` (written out below, not taken from the bridge), and the
state messages against the simulator's own status and SQL sums of the stored history. Commands are
published the way Home Assistant does; their effect is read back from the simulated device.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from mosquitto_server import Mosquitto, mosquitto_binary, running_mosquitto
from zapledger.backfill import sync
from zapledger.client import Client
from zapledger.config import Secret
from zapledger.integrations.mqtt import BridgeConfig, BrokerOptions, MqttBridge
from zapledger.models import Resolution
from zapledger.simulator import Simulator
from zapledger.store import Store, open_store

HUB = "10055555"
KEY = "mqtt-test-key-1618"
Z1, Z2 = "16000001", "16000002"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
TZ = "Europe/London"
WAIT_S = 20.0
PREFIX = "homeassistant"
BASE = "zapledger"

# --- the conventions, from the reference -----------------------------------------------------

CONFIG_TOPIC = re.compile(
    rf"^{PREFIX}/(?P<component>[^/]+)/(?:[^/]+/)?(?P<object_id>[^/]+)/config$"
)
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version"}
#: device_class -> (allowed units, allowed state classes)
CLASS_RULES: dict[str, tuple[set[str], set[str]]] = {
    "energy": ({"kWh", "Wh"}, {"total_increasing", "total"}),
    "power": ({"W"}, {"measurement"}),
    "voltage": ({"V"}, {"measurement"}),
    "frequency": ({"Hz"}, {"measurement"}),
}
COMMANDED = {"select", "number", "button"}
TEMPLATE = re.compile(r"^\{\{ value_json\.(?P<path>[A-Za-z0-9_.]+) \}\}$")


def convention_problems(topic: str, config: dict[str, Any]) -> list[str]:
    """What is wrong with one discovery config, by the reference's rules."""
    problems = []
    match = CONFIG_TOPIC.match(topic)
    if match is None:
        return [f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config"]
    component = match["component"]
    if config.get("unique_id") != match["object_id"]:
        problems.append(f"{topic}: object_id is not the unique_id {config.get('unique_id')}")
    if "object_id" in config:  # Home Assistant 2025.10 deprecated it; 2026.4 dropped it
        problems.append(f"{topic}: object_id in the payload (use default_entity_id)")
    missing = DEVICE_KEYS - set(config.get("device", {}))
    if missing:
        problems.append(f"{topic}: device block lacks {sorted(missing)}")
    if component != "button" and "state_topic" not in config:
        problems.append(f"{topic}: no state_topic")
    if "state_topic" in config and "value_template" not in config:
        problems.append(f"{topic}: a shared state topic needs a value_template")
    if component in COMMANDED and "command_topic" not in config:
        problems.append(f"{topic}: a {component} needs a command_topic")
    if not config.get("availability_topic"):
        problems.append(f"{topic}: no availability_topic")
    rule = CLASS_RULES.get(config.get("device_class", ""))
    if rule is not None:
        units, state_classes = rule
        if config.get("unit_of_measurement") not in units:
            problems.append(f"{topic}: unit {config.get('unit_of_measurement')} not in {units}")
        if config.get("state_class") not in state_classes:
            problems.append(f"{topic}: state_class {config.get('state_class')}")
    return problems


def template_value(config: dict[str, Any], state: dict[str, Any]) -> Any:
    """Evaluate a ``{{ value_json.a.b }}`` template against a state payload."""
    match = TEMPLATE.match(config["value_template"])
    assert match, config["value_template"]
    value: Any = state
    for part in match["path"].split("."):
        value = value[part]
    return value


# --- a subscriber ----------------------------------------------------------------------------


@dataclass
class Seen:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Watcher:
    """Everything one subscriber on ``#`` received, in order."""

    messages: list[Seen] = field(default_factory=list)

    def on(self, topic: str) -> list[Seen]:
        return [m for m in self.messages if m.topic == topic]

    def configs(self) -> dict[str, dict[str, Any]]:
        return {
            m.topic: m.json()
            for m in self.messages
            if m.topic.startswith(f"{PREFIX}/") and m.topic.endswith("/config") and m.payload
        }

    async def wait_for(self, what: str, check: Callable[[], Any]) -> Any:
        """Wait (bounded) until ``check()`` is truthy; its value."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not (value := check()):
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"no {what} within {WAIT_S} s; seen {[m.topic for m in self.messages]}")
            await asyncio.sleep(0.05)
        return value


@asynccontextmanager
async def watching(broker: Mosquitto, **options: Any) -> AsyncIterator[Watcher]:
    watcher = Watcher()
    async with aiomqtt.Client(broker.host, broker.port, **options) as mqtt:
        await mqtt.subscribe("#", qos=1)

        async def collect() -> None:
            async for m in mqtt.messages:
                payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                watcher.messages.append(Seen(m.topic.value, payload, bool(m.retain)))

        task = asyncio.create_task(collect())
        try:
            yield watcher
        finally:
            task.cancel()


async def publish(broker: Mosquitto, topic: str, payload: str, **login: str) -> None:
    """What Home Assistant does when a user changes an entity."""
    async with aiomqtt.Client(broker.host, broker.port, **login) as mqtt:  # type: ignore[arg-type]
        await mqtt.publish(topic, payload, qos=1)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with running_mosquitto(tmp_path) as b:
        yield b


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, zappi_serials=(Z1, Z2), now=NOW) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None) as c:
        yield c


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "mqtt.sqlite3"


@pytest.fixture
async def store(client: Client, db: Path) -> AsyncIterator[Store]:
    with open_store(f"sqlite:///{db}") as s:
        await sync(s, date(2024, 6, 13), date(2024, 6, 14), TZ, client=client,
                   resolutions=[Resolution.HOUR])  # fmt: skip
        yield s


FAST = BridgeConfig(
    poll_interval_s=0.3,
    reconnect_initial_s=0.1,
    reconnect_max_s=0.5,
    command_timeout_s=10,
    command_poll_s=0.05,
    boost_kwh=7,
)


@asynccontextmanager
async def bridging(
    client: Client,
    broker: Mosquitto,
    *,
    store: Store | None = None,
    config: BridgeConfig = FAST,
    **login: Any,
) -> AsyncIterator[MqttBridge]:
    bridge = MqttBridge(
        client, BrokerOptions(broker.host, broker.port, **login), config, store=store, version="9.9"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)


def raw_status(sim: Simulator, serial: str) -> dict[str, Any]:
    """The simulator's own status payload for one zappi (not through the client)."""
    answer = httpx.get(f"{sim.url}/cgi-jstatus-Z{serial}", auth=httpx.DigestAuth(HUB, KEY))
    answer.raise_for_status()
    payload: dict[str, Any] = answer.json()["zappi"][0]
    return payload


def stored_kwh(db: Path, serial: str) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT SUM(import_j), SUM(export_j), SUM(generation_j), "
            "SUM(diverted_h1_j + diverted_h2_j + diverted_h3_j), "
            "SUM(boosted_h1_j + boosted_h2_j + boosted_h3_j) FROM history_hour WHERE serial = ?",
            (serial,),
        ).fetchone()
    names = ("Grid import", "Grid export", "Generation", "EV from solar", "EV from grid")
    return {name: value / 3_600_000 for name, value in zip(names, row, strict=True)}


def expected_entity_count(with_energy: bool) -> int:
    # 3 powers, voltage, frequency, session energy, charge and plug status, last command,
    # select, number, two buttons; plus 5 lifetime energy counters with a store
    return 13 + (5 if with_energy else 0)


# --- discovery and state ---------------------------------------------------------------------


async def test_every_discovery_payload_and_the_state_meet_the_conventions(
    sim: Simulator, client: Client, broker: Mosquitto, store: Store, db: Path
) -> None:
    n = expected_entity_count(with_energy=True)
    async with watching(broker) as w, bridging(client, broker, store=store):
        await w.wait_for("configs", lambda: len(w.configs()) >= 2 * n)
        await w.wait_for("states", lambda: all(w.on(f"{BASE}/{z}/state") for z in (Z1, Z2)))
    configs = w.configs()
    assert len(configs) == 2 * n
    problems = [p for topic, cfg in configs.items() for p in convention_problems(topic, cfg)]
    assert problems == []

    for serial in (Z1, Z2):
        state = w.on(f"{BASE}/{serial}/state")[-1].json()
        raw = await asyncio.to_thread(raw_status, sim, serial)
        mine = [
            c
            for c in configs.values()
            if c.get("state_topic", c.get("command_topic", "")).startswith(f"{BASE}/{serial}/")
        ]
        assert len(mine) == n
        devices = {json.dumps(c["device"], sort_keys=True) for c in mine}
        assert len(devices) == 1, "one device block per zappi"
        assert serial in devices.pop()
        by_class: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for c in mine:
            by_class.setdefault((c.get("device_class", ""), c.get("state_class", "")), []).append(c)
        powers = sorted(template_value(c, state) for c in by_class[("power", "measurement")])
        assert powers == sorted([raw["grd"], raw["gen"], raw.get("div", 0)])  # no div: 0 W
        (volts,) = by_class[("voltage", "measurement")]
        assert template_value(volts, state) == pytest.approx(raw["vol"] / 10)
        (hertz,) = by_class[("frequency", "measurement")]
        assert template_value(hertz, state) == raw["frq"]
        counters = {
            c["name"]: template_value(c, state) for c in by_class[("energy", "total_increasing")]
        }
        expected = stored_kwh(db, serial)
        assert counters == pytest.approx(expected, abs=1e-3)

        selects = [c for c in mine if c["unique_id"].endswith("_mode") and "options" in c]
        (select,) = selects
        assert set(select["options"]) >= {"fast", "eco", "eco+", "stop"}
        assert (
            template_value(select, state) == {1: "fast", 2: "eco", 3: "eco+", 4: "stop"}[raw["zmo"]]
        )
        (number,) = [c for c in mine if "min" in c and "max" in c]
        assert (number["min"], number["max"]) == (1, 100)
        assert template_value(number, state) == raw["mgl"]
        buttons = [c for t, c in configs.items() if t.startswith(f"{PREFIX}/button/") and c in mine]
        assert len(buttons) == 2


async def test_configs_and_availability_are_retained_for_late_subscribers(
    client: Client, broker: Mosquitto
) -> None:
    n = expected_entity_count(with_energy=False)
    async with watching(broker) as early, bridging(client, broker):
        await early.wait_for("configs", lambda: len(early.configs()) >= 2 * n)
        async with watching(broker) as late:
            await late.wait_for("retained configs", lambda: len(late.configs()) >= 2 * n)
            await late.wait_for("availability", lambda: late.on(f"{BASE}/availability"))
    configs = [m for m in late.messages if m.topic.endswith("/config")]
    assert configs and all(m.retain for m in configs)
    assert late.on(f"{BASE}/availability")[0].payload == b"online"
    assert late.on(f"{BASE}/availability")[0].retain
    # a clean stop says offline, and that stays (retained) for whoever looks later
    async with watching(broker) as after:
        seen = await after.wait_for("availability", lambda: after.on(f"{BASE}/availability"))
    assert seen[-1].payload == b"offline"


async def test_configs_are_published_again_when_home_assistant_comes_back(
    client: Client, broker: Mosquitto
) -> None:
    n = expected_entity_count(with_energy=False)
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("configs", lambda: len(w.configs()) >= 2 * n)
        before = len([m for m in w.messages if m.topic.endswith("/config")])
        await publish(broker, f"{PREFIX}/status", "online")
        await w.wait_for(
            "configs again",
            lambda: len([m for m in w.messages if m.topic.endswith("/config")]) >= before + 2 * n,
        )
        # something else on the status topic is not a reason
        await publish(broker, f"{PREFIX}/status", "offline")


# --- commands from Home Assistant ------------------------------------------------------------


def command_results(w: Watcher, serial: str) -> list[dict[str, Any]]:
    return [m.json() for m in w.on(f"{BASE}/{serial}/command/result")]


async def test_a_mode_chosen_in_home_assistant_reaches_the_zappi(
    sim: Simulator, client: Client, broker: Mosquitto
) -> None:
    assert sim.device_settings(Z2).get("zmo") != 3
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("state", lambda: w.on(f"{BASE}/{Z2}/state"))
        await publish(broker, f"{BASE}/{Z2}/mode/set", "eco+")
        (result,) = await w.wait_for("result", lambda: command_results(w, Z2))
        await w.wait_for(
            "the new mode in the state",
            lambda: any(m.json()["mode_option"] == "eco+" for m in w.on(f"{BASE}/{Z2}/state")),
        )
    assert result["outcome"] == "ok"
    assert sim.device_settings(Z2)["zmo"] == 3
    (entry,) = sim.device_log
    assert (entry.serial, entry.command, entry.outcome) == (Z2, "mode", "ok")
    assert dict(entry.changes)["zmo"][1] == 3


async def test_min_green_and_the_boost_buttons(
    sim: Simulator, client: Client, broker: Mosquitto
) -> None:
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("state", lambda: w.on(f"{BASE}/{Z1}/state"))
        for topic, payload in (("min_green", "40.0"), ("boost", "PRESS"), ("stop_boost", "PRESS")):
            wanted = len(command_results(w, Z1)) + 1
            await publish(broker, f"{BASE}/{Z1}/{topic}/set", payload)
            await w.wait_for(topic, lambda: len(command_results(w, Z1)) >= wanted)  # noqa: B023
    assert [r["outcome"] for r in command_results(w, Z1)] == ["ok", "ok", "ok"]
    log = sim.device_log
    assert [e.command for e in log] == ["min-green", "boost", "stop-boost"]
    assert dict(log[0].requested) == {"mgl": 40}
    assert dict(log[1].requested)["tbk"] == FAST.boost_kwh
    settings = sim.device_settings(Z1)
    assert (settings["mgl"], settings["bsm"]) == (40, 0)


async def test_a_refused_command_is_published_back_not_dropped(
    sim: Simulator, client: Client, broker: Mosquitto
) -> None:
    before = sim.device_settings(Z1).get("zmo")
    sim.force_command("busy")
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("state", lambda: w.on(f"{BASE}/{Z1}/state"))
        await publish(broker, f"{BASE}/{Z1}/mode/set", "fast")
        (result,) = await w.wait_for("result", lambda: command_results(w, Z1))
    assert result["outcome"] == "refused"
    assert result["code"] == -26 and result["meaning"] == "device busy"
    assert sim.device_settings(Z1).get("zmo") == before
    assert [e.outcome for e in sim.device_log] == ["refused"]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [("mode", "turbo"), ("min_green", "150"), ("min_green", "lots"), ("unknown", "1")],
)
async def test_a_nonsense_command_is_answered_and_nothing_is_sent(
    sim: Simulator, client: Client, broker: Mosquitto, topic: str, payload: str
) -> None:
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("state", lambda: w.on(f"{BASE}/{Z1}/state"))
        await publish(broker, f"{BASE}/{Z1}/{topic}/set", payload)
        (result,) = await w.wait_for("result", lambda: command_results(w, Z1))
    assert result["outcome"] == "invalid"
    assert result["payload"] == payload
    assert sim.device_log == ()


async def test_a_zappi_the_hub_does_not_have_is_answered(
    sim: Simulator, client: Client, broker: Mosquitto
) -> None:
    async with watching(broker) as w, bridging(client, broker):
        await w.wait_for("state", lambda: w.on(f"{BASE}/{Z1}/state"))
        await publish(broker, f"{BASE}/16999999/mode/set", "eco")
        (result,) = await w.wait_for("result", lambda: command_results(w, "16999999"))
    assert result["outcome"] == "invalid" and "16999999" in result["error"]
    assert sim.device_log == ()


# --- the connection --------------------------------------------------------------------------


async def test_the_bridge_reconnects_and_republishes_after_a_broker_restart(
    client: Client, broker: Mosquitto
) -> None:
    n = expected_entity_count(with_energy=False)
    async with bridging(client, broker) as bridge:
        async with watching(broker) as w:
            await w.wait_for("configs", lambda: len(w.configs()) >= 2 * n)
        await asyncio.to_thread(broker.restart)  # no persistence: every retained message is gone
        async with watching(broker) as again:
            await again.wait_for("configs after the restart", lambda: len(again.configs()) >= 2 * n)
            await again.wait_for(
                "online after the restart",
                lambda: [m for m in again.on(f"{BASE}/availability") if m.payload == b"online"],
            )
            await again.wait_for("state after the restart", lambda: again.on(f"{BASE}/{Z1}/state"))
    assert bridge.stats.connects >= 2


async def test_polls_go_on_while_the_broker_is_away(
    client: Client, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    async with bridging(client, broker) as bridge:
        await asyncio.to_thread(broker.stop)
        polls = bridge.stats.polls
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while bridge.stats.polls < polls + 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await asyncio.to_thread(broker.start)
    assert any("reconnecting in" in r.getMessage() for r in caplog.records)


async def test_username_and_password(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = "broker-pass-5150"
    with running_mosquitto(tmp_path, users={"zapledger": password, "ha": "ha-pass"}) as broker:
        n = expected_entity_count(with_energy=False)
        async with watching(broker, username="ha", password="ha-pass") as w:
            async with bridging(client, broker, username="zapledger", password=Secret(password)):
                await w.wait_for("configs", lambda: len(w.configs()) >= 2 * n)
            wrong = BridgeConfig(reconnect_initial_s=0.05, reconnect_max_s=0.1)
            async with bridging(
                client, broker, config=wrong, username="zapledger", password=Secret("wrong")
            ) as refused:
                await w.wait_for(
                    "a refusal",
                    lambda: any("reconnecting" in r.getMessage() for r in caplog.records),
                )
            assert refused.stats.connects == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert password not in text and "wrong" not in text.replace("went wrong", "")
    assert password not in repr(BrokerOptions(password=Secret(password)))


# paho-mqtt leaves the socket of a failed TLS handshake to the garbage collector (closed there)
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
async def test_tls_with_the_brokers_own_ca(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = expected_entity_count(with_energy=False)
    with running_mosquitto(tmp_path, tls=True) as broker:
        assert broker.ca_file is not None
        tls = aiomqtt.TLSParameters(ca_certs=str(broker.ca_file))
        async with watching(broker, tls_params=tls) as w:
            async with bridging(client, broker, tls=True, ca_file=broker.ca_file):
                await w.wait_for("configs over TLS", lambda: len(w.configs()) >= 2 * n)
            caplog.clear()
            quick = BridgeConfig(reconnect_initial_s=0.05, reconnect_max_s=0.1)
            # the system's CAs do not know the test CA: refused, retried, never connected
            async with bridging(client, broker, config=quick, tls=True) as untrusted:
                await w.wait_for(
                    "a refusal",
                    lambda: any("reconnecting" in r.getMessage() for r in caplog.records),
                )
            assert untrusted.stats.connects == 0
    gc.collect()  # inside this test, whose filter expects paho's unclosed socket


def test_a_missing_broker_binary_fails_with_the_install_hint() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"scripts/system-deps\.sh"):
        mosquitto_binary("mosquitto-that-is-not-installed")
