"""Daemons that feed other tools: ``mqtt`` (Home Assistant over MQTT) and ``metrics`` (Prometheus).

Both run until SIGTERM/SIGINT; the work lives in :mod:`zapledger.integrations`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ._common import db_url, make_client, run_async, settings
from ._sync import _log_to_stderr

if TYPE_CHECKING:
    import asyncio


def register(app: typer.Typer) -> None:
    app.command("mqtt")(mqtt_cmd)
    app.command("metrics")(metrics_cmd)


def until_signal(run: Callable[[asyncio.Event], Coroutine[Any, Any, Any]]) -> None:
    """Run ``run(stop)``; SIGTERM and SIGINT set ``stop``."""
    _log_to_stderr()

    async def main() -> None:
        import asyncio
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    run_async(main())


def mqtt_cmd(
    host: str = typer.Option(
        "127.0.0.1", "--host", envvar="ZAPLEDGER_MQTT_HOST", help="The MQTT broker."
    ),
    port: int = typer.Option(1883, "--port", min=1, max=65535, help="The broker's port."),
    username: str | None = typer.Option(
        None, "--username", envvar="ZAPLEDGER_MQTT_USERNAME", help="Broker user name."
    ),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="File whose first line is the broker password (or set ZAPLEDGER_MQTT_PASSWORD).",
    ),
    tls: bool = typer.Option(False, "--tls", help="Connect with TLS."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA bundle for --tls."),
    client_id: str | None = typer.Option(None, "--client-id", help="MQTT client id."),
    base_topic: str = typer.Option("zapledger", "--base-topic", help="Topic of state/commands."),
    discovery_prefix: str = typer.Option(
        "homeassistant", "--discovery-prefix", help="Home Assistant's discovery prefix."
    ),
    interval: float = typer.Option(
        60.0, "--interval", help="Seconds between status polls (warns under 30)."
    ),
    serial: list[str] = typer.Option([], "--serial", help="Which zappi (default: all)."),
    boost_kwh: int = typer.Option(
        10, "--boost-kwh", min=1, max=99, help="Energy the boost button adds."
    ),
    energy: bool = typer.Option(
        True, "--energy/--no-energy", help="Publish lifetime kWh counters from the database."
    ),
) -> None:
    """Bridge the zappi to Home Assistant over MQTT (discovery, state, commands)."""
    from ..integrations.mqtt import BridgeConfig, BrokerOptions, read_password, run_bridge

    if interval <= 0:
        raise typer.BadParameter("must be positive", param_hint="--interval")
    cfg = settings()
    broker = BrokerOptions(
        host=host,
        port=port,
        username=username,
        password=read_password(password_file),
        tls=tls or ca_file is not None,
        ca_file=ca_file,
        client_id=client_id,
    )
    config = BridgeConfig(
        poll_interval_s=interval,
        serials=tuple(serial) or ((cfg.zappi_serial,) if cfg.zappi_serial else ()),
        base_topic=base_topic,
        discovery_prefix=discovery_prefix,
        boost_kwh=boost_kwh,
    )
    client = make_client(cfg)
    url = db_url(cfg) if energy else None

    async def bridge(stop: asyncio.Event) -> None:
        if url is None:
            await run_bridge(client, broker, config, stop)
            return
        from ..store import open_store

        with open_store(url) as store:
            await run_bridge(client, broker, config, stop, store=store)

    until_signal(bridge)


def metrics_cmd(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (warns beyond loopback)."
    ),
    port: int = typer.Option(9469, "--port", min=0, max=65535, help="Port of /metrics."),
    refresh: float = typer.Option(30.0, "--refresh", help="Seconds between reads of the store."),
    serial: list[str] = typer.Option([], "--serial", help="Which zappi (default: all stored)."),
) -> None:
    """Serve Prometheus metrics from the database (the collector's last values; no cloud calls)."""
    from ..integrations.metrics import serve_store_metrics
    from ..store import open_store

    if refresh <= 0:
        raise typer.BadParameter("must be positive", param_hint="--refresh")
    url = db_url()

    async def serve(stop: asyncio.Event) -> None:
        with open_store(url) as store:
            await serve_store_metrics(
                store, stop, host=host, port=port, refresh_s=refresh, serials=tuple(serial)
            )

    until_signal(serve)
