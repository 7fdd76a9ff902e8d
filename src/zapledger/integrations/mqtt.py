"""The MQTT bridge: the zappi's status for Home Assistant, and Home Assistant's commands back.

It polls the hub's status through the :class:`~zapledger.client.Client` (politely: every 60 s by
default), publishes each zappi's status as JSON on its state topic, and announces the entities with
retained discovery configs (:mod:`.mqtt_discovery`). The bridge's availability topic carries a
last will ``offline``; it says ``online`` on every connect. When Home Assistant announces itself
(``online`` on ``homeassistant/status``) the configs are published again.

Commands from Home Assistant go through :class:`~zapledger.control.Controller`, with all of its
checks and the read-back; every outcome, a refusal too, is published on the zappi's result topic.
A lost broker is reconnected with exponential backoff; the cloud polls go on meanwhile. The
password comes from the environment or a file, never the command line, and is never logged.
Needs ``zapledger[mqtt]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import time as _time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt

from ..config import Secret
from ..control import Controller
from ..exceptions import (
    CommandArgumentError,
    CommandError,
    CommandFailedError,
    CommandNotConfirmedError,
    ConfigError,
    ZapledgerError,
)
from ..models import Energy, SiteStatus, ZappiStatus
from ._totals import stored_totals
from .mqtt_discovery import AVAILABLE, NOT_AVAILABLE, Topics, discovery_configs, state_payload

if TYPE_CHECKING:
    from ..client import Client
    from ..control import CommandResult
    from ..store import Store

__all__ = [
    "PASSWORD_ENV",
    "BridgeConfig",
    "BridgeStats",
    "BrokerOptions",
    "MqttBridge",
    "read_password",
    "run_bridge",
]

logger = logging.getLogger("zapledger.mqtt")

#: The environment variable that holds the broker password (or use a password file).
PASSWORD_ENV = "ZAPLEDGER_MQTT_PASSWORD"  # noqa: S105 - a variable name
#: Polling the status faster than this has earned clients HTTP 429.
MIN_POLL_INTERVAL_S = 30.0
#: A password line longer than this is no password (MQTT allows 65535 bytes; brokers use less).
_MAX_PASSWORD_BYTES = 4096


def read_password(
    password_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Secret | None:
    """The broker password: ``password_file``'s first line, else ``$ZAPLEDGER_MQTT_PASSWORD``."""
    if password_file is not None:
        try:
            with password_file.open("rb") as fh:
                first = fh.readline(_MAX_PASSWORD_BYTES + 1)  # bounded: never a whole device
        except OSError as exc:
            raise ConfigError(
                f"cannot read the MQTT password file {password_file}: {exc.strerror}"
            ) from None
        line = first.rstrip(b"\r\n")
        if len(line) > _MAX_PASSWORD_BYTES or b"\0" in line:
            raise ConfigError(f"the MQTT password file {password_file} holds no password line")
        try:
            password = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"the MQTT password file {password_file} is not UTF-8") from None
        if not password:
            raise ConfigError(f"the MQTT password file {password_file} is empty")
        return Secret(password)
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV)
    return Secret(value) if value else None


@dataclass(frozen=True)
class BrokerOptions:
    """Where the broker is and how to log in; the password never shows in a repr."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    tls: bool = False
    #: CA bundle for the broker's certificate (default: the system's)
    ca_file: Path | None = None
    client_id: str | None = None
    keepalive_s: int = 60

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        cafile = None if self.ca_file is None else str(self.ca_file)
        return ssl.create_default_context(cafile=cafile)


@dataclass(frozen=True)
class BridgeConfig:
    """How often and where: the defaults suit the real cloud and a stock Home Assistant."""

    poll_interval_s: float = 60.0
    #: zappis to publish; empty: every zappi the hub reports
    serials: tuple[str, ...] = ()
    base_topic: str = "zapledger"
    discovery_prefix: str = "homeassistant"
    #: energy the boost button adds (kWh)
    boost_kwh: int = 10
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    command_timeout_s: float = 90.0
    command_poll_s: float = 5.0

    def warnings(self) -> list[str]:
        if self.poll_interval_s < MIN_POLL_INTERVAL_S:
            return [
                f"polling every {self.poll_interval_s:g} s is more often than every "
                f"{MIN_POLL_INTERVAL_S:g} s: the cloud may answer 429 Too Many Requests"
            ]
        return []


@dataclass
class BridgeStats:
    """What a bridge run did (for tests and the closing log line)."""

    polls: int = 0
    poll_failures: int = 0
    connects: int = 0
    discovery_published: int = 0
    commands: int = 0
    commands_refused: int = 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _outcome(exc: ZapledgerError) -> str:
    if isinstance(exc, CommandArgumentError):
        return "invalid"
    if isinstance(exc, CommandFailedError):
        return "failed"
    if isinstance(exc, CommandError):
        return "refused"
    if isinstance(exc, CommandNotConfirmedError):
        return "not_confirmed"
    return "error"


def _whole_number(text: str, what: str) -> int:
    """Home Assistant's number entity sends ``"40"`` or ``"40.0"``."""
    try:
        value = float(text)
    except ValueError:
        raise CommandArgumentError(f"{what} is a number, got {text!r}") from None
    if not value.is_integer():
        raise CommandArgumentError(f"{what} is a whole number, got {text!r}")
    return int(value)


class MqttBridge:
    """One bridge between a hub and a broker; :meth:`run` until a stop event is set."""

    def __init__(
        self,
        client: Client,
        broker: BrokerOptions,
        config: BridgeConfig | None = None,
        *,
        store: Store | None = None,
        version: str = "0",
    ) -> None:
        self.client = client
        self.broker = broker
        self.config = config or BridgeConfig()
        self.store = store
        self.version = version
        self.topics = Topics(self.config.base_topic, self.config.discovery_prefix)
        self.controller = Controller(
            client,
            timeout_s=self.config.command_timeout_s,
            poll_interval_s=self.config.command_poll_s,
        )
        self.stats = BridgeStats()
        self.zappis: dict[str, ZappiStatus] = {}
        self.energy: dict[str, Energy] = {}
        self._mqtt: aiomqtt.Client | None = None
        self._announced: set[str] = set()
        self._poll_now = asyncio.Event()
        self._command_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- publishing ----------------------------------------------------------------------

    async def _publish(self, topic: str, payload: Any, *, retain: bool = False) -> bool:
        """Publish when connected; False when the broker is away (the reconnect catches up)."""
        mqtt = self._mqtt
        if mqtt is None:
            return False
        body = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True)
        try:
            await mqtt.publish(topic, body, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            logger.debug("publishing on %s failed: %s", topic, exc)
            return False
        return True

    async def _announce(self, zappi: ZappiStatus) -> None:
        configs = discovery_configs(
            zappi,
            self.topics,
            version=self.version,
            with_energy=self.store is not None,
            boost_kwh=self.config.boost_kwh,
        )
        published = [await self._publish(t, p, retain=True) for t, p in configs.items()]
        if all(published):
            self._announced.add(zappi.serial)
            self.stats.discovery_published += len(published)

    async def _publish_state(self, zappi: ZappiStatus) -> None:
        if zappi.serial not in self._announced:
            await self._announce(zappi)
        payload = state_payload(zappi, self.energy.get(zappi.serial))
        await self._publish(self.topics.state(zappi.serial), payload, retain=True)

    async def _republish(self) -> None:
        """Everything a fresh broker or a restarted Home Assistant needs."""
        self._announced.clear()
        for zappi in list(self.zappis.values()):
            await self._publish_state(zappi)

    # --- polling the cloud -----------------------------------------------------------------

    def _wanted(self, site: SiteStatus) -> list[ZappiStatus]:
        only = self.config.serials
        return [z for z in site.zappis if not only or z.serial in only]

    async def poll_once(self) -> None:
        site = await self.client.site_status()
        zappis = self._wanted(site)
        if self.store is not None:
            store = self.store
            serials = [z.serial for z in zappis]
            now = datetime.now(UTC)
            self.energy = await asyncio.to_thread(stored_totals, store, serials, now)
        self.stats.polls += 1
        for zappi in zappis:
            self.zappis[zappi.serial] = zappi
            await self._publish_state(zappi)

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = _time.monotonic()
            self._poll_now.clear()
            try:
                await self.poll_once()
            except (ZapledgerError, OSError) as exc:
                self.stats.poll_failures += 1
                logger.warning("status poll failed: %s; trying again later", _one_line(exc))
            wait = self.config.poll_interval_s - (_time.monotonic() - started)
            await _first(stop.wait(), self._poll_now.wait(), wait_s=max(wait, 0.0))

    # --- commands from Home Assistant ----------------------------------------------------

    def _command_call(
        self, serial: str, name: str, text: str
    ) -> Callable[[], Awaitable[CommandResult]]:
        """The controller call a command topic asks for; CommandArgumentError for nonsense."""
        c = self.controller
        if name == "mode":
            return lambda: c.set_mode(text, serial=serial)
        if name == "min_green":
            level = _whole_number(text, "the minimum green level (%)")
            return lambda: c.set_min_green(level, serial=serial)
        if name == "boost":
            return lambda: c.boost(self.config.boost_kwh, serial=serial)
        if name == "stop_boost":
            return lambda: c.stop_boost(serial=serial)
        raise CommandArgumentError(f"unknown command {name!r}")

    async def handle_command(self, serial: str, name: str, payload: bytes) -> dict[str, Any]:
        """Run one command and publish its outcome on the result topic (refusals too)."""
        text = payload.decode("utf-8", errors="replace").strip()
        report: dict[str, Any] = {"command": name, "payload": text, "serial": serial}
        async with self._command_lock:
            self.stats.commands += 1
            try:
                result = await self._command_call(serial, name, text)()
            except ZapledgerError as exc:
                self.stats.commands_refused += 1
                report |= {"outcome": _outcome(exc), "error": _one_line(exc)}
                if isinstance(exc, CommandError):
                    report |= {"code": exc.code, "meaning": exc.meaning}
                logger.warning("command %s %r for %s: %s", name, text, serial, _one_line(exc))
            else:
                report |= {"outcome": "ok", "result": result.as_dict()}
                logger.info("command %s %r for %s done", name, text, serial)
        report["at"] = datetime.now(UTC).isoformat()
        await self._publish(self.topics.result(serial), report)
        self._poll_now.set()
        return report

    # --- the broker connection -----------------------------------------------------------

    def _mqtt_client(self) -> aiomqtt.Client:
        b = self.broker
        return aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=None if b.password is None else b.password.reveal(),
            identifier=b.client_id,
            keepalive=b.keepalive_s,
            tls_context=b.tls_context(),
            will=aiomqtt.Will(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True),
            timeout=10,
        )

    async def _session(self, mqtt: aiomqtt.Client, stop: asyncio.Event) -> None:
        self._mqtt = mqtt
        self.stats.connects += 1
        logger.info("connected to the MQTT broker %s:%d", self.broker.host, self.broker.port)
        await mqtt.publish(self.topics.availability, AVAILABLE, qos=1, retain=True)
        await mqtt.subscribe(self.topics.ha_status, qos=1)
        await mqtt.subscribe(self.topics.command_filter, qos=1)
        await self._republish()
        listener = asyncio.create_task(self._listen(mqtt))
        await _first(stop.wait(), listener)
        if listener.done():
            listener.result()  # the connection broke: MqttError, reconnect
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await mqtt.publish(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)

    async def _listen(self, mqtt: aiomqtt.Client) -> None:
        async for message in mqtt.messages:
            topic = message.topic.value
            raw = message.payload
            payload = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
            if topic == self.topics.ha_status:
                if payload.strip() == b"online":
                    logger.info("Home Assistant is back: publishing the discovery configs again")
                    await self._republish()
                continue
            parsed = self.topics.parse_command(topic)
            if parsed is not None:
                task = asyncio.create_task(self._command_task(*parsed, payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _command_task(self, serial: str, name: str, payload: bytes) -> None:
        try:
            await self.handle_command(serial, name, payload)
        except Exception:  # a bug in one command must not end the bridge
            logger.exception("command %s for %s failed unexpectedly", name, serial)

    async def run(self, stop: asyncio.Event) -> BridgeStats:
        """Poll and bridge until ``stop`` is set; broker outages are retried with backoff."""
        for warning in self.config.warnings():
            logger.warning("%s", warning)
        poller = asyncio.create_task(self._poll_loop(stop))
        delay = self.config.reconnect_initial_s
        try:
            while not stop.is_set():
                try:
                    async with self._mqtt_client() as mqtt:
                        delay = self.config.reconnect_initial_s
                        await self._session(mqtt, stop)
                except aiomqtt.MqttError as exc:
                    logger.warning(
                        "MQTT broker %s:%d: %s; reconnecting in %.1f s",
                        self.broker.host,
                        self.broker.port,
                        _one_line(exc),
                        delay,
                    )
                    self._mqtt = None
                    await _first(stop.wait(), wait_s=delay)
                    delay = min(self.config.reconnect_max_s, delay * 2)
                finally:
                    self._mqtt = None
        finally:
            stop.set()
            poller.cancel()
            for task in (poller, *self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        s = self.stats
        logger.info(
            "stopped: %d poll(s), %d command(s) (%d refused), %d connect(s)",
            s.polls,
            s.commands,
            s.commands_refused,
            s.connects,
        )
        return s


async def _first(*aws: Awaitable[Any], wait_s: float | None = None) -> None:
    """Wait until the first of ``aws`` finishes (or ``wait_s``); cancel the others we made."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a) for a in aws]
    made = [t for t, a in zip(tasks, aws, strict=True) if t is not a]
    try:
        await asyncio.wait(tasks, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in made:
            task.cancel()


async def run_bridge(
    client: Client,
    broker: BrokerOptions,
    config: BridgeConfig,
    stop: asyncio.Event,
    *,
    store: Store | None = None,
) -> BridgeStats:
    """``zapledger mqtt``: the bridge over an open client (and store, for the energy counters)."""
    from .. import __version__

    if config.poll_interval_s <= 0:
        raise ConfigError("the poll interval must be positive")
    async with client:
        bridge = MqttBridge(client, broker, config, store=store, version=__version__)
        return await bridge.run(stop)
