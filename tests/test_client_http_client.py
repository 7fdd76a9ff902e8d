"""A caller's own httpx.AsyncClient carries the requests: paced, authenticated, left open."""

from __future__ import annotations

import httpx
import pytest

from zapledger import Client
from zapledger.simulator import Simulator

HUB, KEY = "10088888", "injected-key"


async def test_requests_go_through_the_callers_client() -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    with Simulator(hub_serial=HUB, api_key=KEY) as sim:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as own:
            async with Client(HUB, KEY, director_url=sim.url, http_client=own) as client:
                status = await client.zappi_status()
                assert status.serial == "16000001"
                sent = client.requests_sent
            assert not own.is_closed  # the caller's client outlives zapledger's
            assert (await own.get(sim.url + "/nothing")).status_code in (401, 404)
    # every wire request, the digest challenge included, went through the caller's client
    assert seen[:sent] == ["/cgi-jstatus-Z"] * sent
    assert sent >= 2


def test_transport_and_http_client_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        Client(
            HUB,
            KEY,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
            http_client=httpx.AsyncClient(),
        )
