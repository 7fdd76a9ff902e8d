"""An answer longer than any JSON answer can be is refused while it streams in, not after.

Bodies that go on and on cannot come from the simulator (it answers with whole bodies): an
``httpx.MockTransport`` stands in for the wire there, below zapledger's own transports. The CLI's
answer to one is tested through the simulator, with a body just over the limit.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from zapledger import Client
from zapledger.cli import main
from zapledger.exceptions import BadResponseError
from zapledger.models import MAX_JSON_BYTES
from zapledger.simulator import Answer, Simulator

HUB, KEY = "10088888", "body-limit-key"
CHUNK = 64 * 1024


class Endless(httpx.AsyncByteStream):
    """``[0,0,0,...`` four times as long as the limit (endless, as far as a client should care,
    and still an end for a client that reads it all); counts what was read, and the closing."""

    def __init__(self) -> None:
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"["
        while self.sent < 4 * MAX_JSON_BYTES:
            self.sent += CHUNK
            yield b"0," * (CHUNK // 2)

    async def aclose(self) -> None:
        self.closed = True


class Wire:
    """Answers every request 200 with an endless body (and, if asked, a Content-Length)."""

    def __init__(self, content_length: int | None = None) -> None:
        self.bodies: list[Endless] = []
        self.content_length = content_length

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = Endless()
        self.bodies.append(body)
        headers = {"Content-Type": "application/json"}
        if self.content_length is not None:
            headers["Content-Length"] = str(self.content_length)
        return httpx.Response(200, headers=headers, stream=body)


async def test_an_endless_answer_is_cut_at_the_limit() -> None:
    wire = Wire()
    async with Client(HUB, KEY, transport=httpx.MockTransport(wire)) as client:
        with pytest.raises(BadResponseError, match="longer than 16,777,216 bytes") as info:
            await client.zappi_status()
    assert info.value.endpoint == "cgi-jstatus-Z"
    (body,) = wire.bodies  # refused, not retried
    assert MAX_JSON_BYTES <= body.sent <= MAX_JSON_BYTES + CHUNK
    assert body.closed


async def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    wire = Wire(content_length=MAX_JSON_BYTES + 1)
    async with Client(HUB, KEY, transport=httpx.MockTransport(wire)) as client:
        with pytest.raises(BadResponseError, match="longer than"):
            await client.zappi_status()
    (body,) = wire.bodies
    assert body.sent == 0 and body.closed


async def test_a_small_compressed_answer_that_unpacks_past_the_limit_is_cut() -> None:
    packed = gzip.compress(b"[" + b"0," * (MAX_JSON_BYTES // 2) + b"0]")
    assert len(packed) < MAX_JSON_BYTES // 100
    sent: list[int] = []

    def wire(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return httpx.Response(200, headers=headers, content=packed)

    async with Client(HUB, KEY, transport=httpx.MockTransport(wire)) as client:
        with pytest.raises(BadResponseError, match="longer than 16,777,216 bytes"):
            await client.zappi_status()
    assert sent == [1]


async def test_an_endless_answer_through_a_callers_client_is_cut_too() -> None:
    wire = Wire()
    async with httpx.AsyncClient(transport=httpx.MockTransport(wire)) as own:
        async with Client(HUB, KEY, http_client=own) as client:
            with pytest.raises(BadResponseError, match="longer than"):
                await client.zappi_status()
        assert not own.is_closed
    (body,) = wire.bodies
    assert MAX_JSON_BYTES <= body.sent <= MAX_JSON_BYTES + CHUNK
    assert body.closed


def test_the_cli_says_so_in_one_line_and_exits_6(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the simulator: an answer one byte over the limit (a Content-Length says so)."""
    with Simulator(hub_serial=HUB, api_key=KEY) as sim:
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
        monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
        sim.answer(Answer(200, b"[" + b" " * (MAX_JSON_BYTES - 1) + b"]"), count=None)
        code = main(["status", "--json"])
        authorized = [r for r in sim.requests if r.authorized]
    assert code == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "longer than 16,777,216 bytes" in err[0]
    assert len(authorized) == 1  # not retried


async def test_a_compressed_answer_through_a_callers_client_is_decoded_once() -> None:
    """The caller's client hands the raw bytes on; zapledger's own decodes them, once."""
    status = (Path(__file__).parent / "fixtures" / "status_zappi_example.json").read_bytes()

    def wire(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return httpx.Response(200, headers=headers, content=gzip.compress(status))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(wire)) as own,
        Client(HUB, KEY, http_client=own) as client,
    ):
        zappi = await client.zappi_status()
    assert zappi.serial.isdigit()
