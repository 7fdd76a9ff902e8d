"""One authenticated session with Home Assistant's websocket API (extra ``[ha]``: websockets).

The protocol: the server sends ``auth_required``, the client answers ``auth`` with a long-lived
access token, the server says ``auth_ok`` (or ``auth_invalid`` and closes); then every command
carries an increasing ``id`` and gets one ``result``. The token is read from a file or the
environment, is sent once in the ``auth`` message and is kept nowhere else: the websocket frame
log is muted so that no debug setting can print it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ..exceptions import (
    ApiError,
    AuthenticationError,
    CloudConnectionError,
    CloudTimeoutError,
    ConfigError,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "TOKEN_ENV",
    "URL_ENV",
    "HaAuthenticationError",
    "HaCommandError",
    "HaConnectionError",
    "HaSession",
    "HaTimeoutError",
    "ha_session",
    "read_token",
    "websocket_url",
]

TOKEN_ENV = "ZAPLEDGER_HA_TOKEN"  # noqa: S105 - the variable's name, not a token
URL_ENV = "ZAPLEDGER_HA_URL"
#: Answers to a year of statistics can be large; Home Assistant sends them as one message.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

logger = logging.getLogger("zapledger.integrations.ha")
#: websockets logs every frame at DEBUG, the ``auth`` frame included: this logger never does.
_frame_logger = logging.getLogger("zapledger.integrations.ha.frames")
_frame_logger.setLevel(logging.WARNING)


class HaAuthenticationError(AuthenticationError):
    """Home Assistant refused the access token (``auth_invalid``)."""


class HaConnectionError(CloudConnectionError):
    """Home Assistant could not be reached, or closed the connection."""


class HaTimeoutError(CloudTimeoutError):
    """Home Assistant did not answer in time."""


class HaCommandError(ApiError):
    """Home Assistant answered a command with ``success: false`` (``code``, its message)."""

    def __init__(self, command: str, code: str, message: str) -> None:
        super().__init__(f"Home Assistant refused {command}: {code}: {message}", endpoint=command)
        self.code = code


def read_token(token_file: Path | str | None = None) -> str:
    """The long-lived access token: from ``token_file``, else ``$ZAPLEDGER_HA_TOKEN``."""
    if token_file is not None:
        path = Path(token_file)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from None
        if not token:
            raise ConfigError(f"the token file {path} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"no Home Assistant access token: use --token-file or set {TOKEN_ENV} "
            "(a long-lived access token of an admin user)"
        )
    return token


def websocket_url(url: str | None) -> str:
    """``url`` (else ``$ZAPLEDGER_HA_URL``) as a websocket API URL.

    ``http://host:8123`` becomes ``ws://host:8123/api/websocket``; a ws/wss URL with a path is
    used as it is.
    """
    raw = url or os.environ.get(URL_ENV, "")
    if not raw:
        raise ConfigError(
            f"no Home Assistant URL: use --url or set {URL_ENV} (ws://host:8123/api/websocket)"
        )
    parts = urlsplit(raw)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ConfigError(f"not a Home Assistant URL: {raw!r} (ws://host:8123/api/websocket)")
    path = parts.path if parts.path not in ("", "/") else "/api/websocket"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class HaSession:
    """Commands over one authenticated connection; each waits for its own ``result``."""

    def __init__(self, ws: ClientConnection, url: str, timeout_s: float) -> None:
        self._ws = ws
        self.url = url
        self.timeout_s = timeout_s
        self.ha_version: str | None = None
        self._next_id = 1

    def __repr__(self) -> str:
        return f"HaSession(url={self.url!r}, ha_version={self.ha_version!r})"

    async def _receive(self) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self._ws.recv()
        except TimeoutError:
            raise HaTimeoutError(f"{self.url}: no answer in {self.timeout_s:g} s") from None
        except ConnectionClosed as exc:
            raise HaConnectionError(f"{self.url}: connection closed ({exc})") from None
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise HaConnectionError(f"{self.url}: not a JSON message") from None
        if not isinstance(message, dict):
            raise HaConnectionError(f"{self.url}: not a JSON object")
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(msgspec.json.encode(message).decode())
        except ConnectionClosed as exc:
            raise HaConnectionError(f"{self.url}: connection closed ({exc})") from None

    async def authenticate(self, token: str) -> None:
        hello = await self._receive()
        if hello.get("type") != "auth_required":
            raise HaConnectionError(f"{self.url}: expected auth_required, got {hello.get('type')}")
        await self._send({"type": "auth", "access_token": token})
        answer = await self._receive()
        if answer.get("type") == "auth_invalid":
            raise HaAuthenticationError(
                f"Home Assistant at {self.url} refused the access token "
                f"({answer.get('message', 'auth_invalid')})",
                endpoint=self.url,
            )
        if answer.get("type") != "auth_ok":
            raise HaConnectionError(f"{self.url}: expected auth_ok, got {answer.get('type')}")
        self.ha_version = answer.get("ha_version")

    async def command(self, command: str, **fields: Any) -> Any:
        """Send ``command`` with the next id and return the ``result`` of its answer."""
        ident = self._next_id
        self._next_id += 1
        await self._send({"id": ident, "type": command, **fields})
        while True:
            answer = await self._receive()
            if answer.get("id") == ident and answer.get("type") == "result":
                break
        if not answer.get("success"):
            error = answer.get("error") or {}
            raise HaCommandError(
                command, str(error.get("code", "unknown")), str(error.get("message", ""))
            )
        return answer.get("result")


@asynccontextmanager
async def ha_session(url: str, token: str, *, timeout_s: float = 30.0) -> AsyncIterator[HaSession]:
    """An authenticated session with Home Assistant at ``url`` (a websocket API URL)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidURI

    try:
        ws = await connect(
            url,
            open_timeout=timeout_s,
            close_timeout=timeout_s,
            max_size=_MAX_MESSAGE_BYTES,
            compression=None,  # a LAN: deflating a year of numbers costs more than it saves
            logger=_frame_logger,
        )
    except InvalidURI:
        raise ConfigError(f"not a websocket URL: {url!r}") from None
    except TimeoutError:
        raise HaTimeoutError(f"{url}: no connection in {timeout_s:g} s", endpoint=url) from None
    except (OSError, InvalidHandshake) as exc:
        raise HaConnectionError(
            f"cannot reach Home Assistant at {url}: {exc}", endpoint=url
        ) from None
    session = HaSession(ws, url, timeout_s)
    try:
        await session.authenticate(token)
        logger.debug("connected to Home Assistant %s at %s", session.ha_version, url)
        yield session
    finally:
        await ws.close()
