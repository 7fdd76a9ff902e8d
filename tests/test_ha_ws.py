"""The websocket session with Home Assistant when the other side misbehaves (scripted servers)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve

from zapledger.exceptions import ConfigError
from zapledger.integrations.ha_ws import (
    HaConnectionError,
    HaTimeoutError,
    ha_session,
)

Script = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[str]:
    """A websocket server on loopback that plays ``script`` to each client; yields its URL."""
    async with serve(script, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/api/websocket"


async def hello_ok(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "auth_required"}))
    await ws.recv()
    await ws.send(json.dumps({"type": "auth_ok", "ha_version": "2025.11.0"}))


async def test_the_server_must_start_with_auth_required() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "hello"}))
        await ws.wait_closed()

    async with scripted(script) as url:
        with pytest.raises(HaConnectionError, match="expected auth_required"):
            async with ha_session(url, "t"):
                pass


async def test_an_answer_other_than_auth_ok_is_refused() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "auth_required"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "surprise"}))
        await ws.wait_closed()

    async with scripted(script) as url:
        with pytest.raises(HaConnectionError, match="expected auth_ok"):
            async with ha_session(url, "t"):
                pass


@pytest.mark.parametrize(("raw", "what"), [("not json", "not a JSON message"), ("[1]", "object")])
async def test_a_message_must_be_a_json_object(raw: str, what: str) -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(raw)
        await ws.wait_closed()

    async with scripted(script) as url:
        with pytest.raises(HaConnectionError, match=what):
            async with ha_session(url, "t"):
                pass


async def test_other_messages_are_skipped_until_the_commands_result() -> None:
    async def script(ws: ServerConnection) -> None:
        await hello_ok(ws)
        ident = json.loads(await ws.recv())["id"]
        await ws.send(json.dumps({"id": ident, "type": "event", "event": {}}))
        await ws.send(json.dumps({"id": ident + 7, "type": "result", "success": True}))
        await ws.send(json.dumps({"id": ident, "type": "result", "success": True, "result": 42}))
        await ws.wait_closed()

    async with scripted(script) as url, ha_session(url, "t") as session:
        assert await session.command("ping") == 42


async def test_a_closed_connection_is_a_network_error() -> None:
    async def script(ws: ServerConnection) -> None:
        await hello_ok(ws)
        await ws.close()

    async with scripted(script) as url, ha_session(url, "t") as session:
        with pytest.raises(HaConnectionError, match="connection closed"):
            await session.command("recorder/list_statistic_ids")


async def test_no_answer_in_time_is_a_timeout() -> None:
    async def script(ws: ServerConnection) -> None:
        await hello_ok(ws)
        await ws.wait_closed()

    async with scripted(script) as url, ha_session(url, "t", timeout_s=0.2) as session:
        with pytest.raises(HaTimeoutError, match="no answer"):
            await session.command("recorder/list_statistic_ids")


async def test_a_server_that_never_upgrades_is_a_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts TCP in the kernel, never answers the upgrade
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/api/websocket"
        with pytest.raises(HaTimeoutError, match="no connection"):
            async with ha_session(url, "t", timeout_s=0.2):
                pass


async def test_a_url_that_is_not_a_websocket_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        async with ha_session("http://127.0.0.1:1/api/websocket", "t"):
            pass
