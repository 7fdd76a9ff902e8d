"""The stand-in Home Assistant follows the protocol and the validation rules of the reference.

Spoken to with a bare websockets client, so that these tests check the stand-in alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from ha_server import TOKEN, FakeHomeAssistant

META = {
    "statistic_id": "test:energy_1",
    "source": "test",
    "name": "Energy 1",
    "unit_of_measurement": "kWh",
    "has_sum": True,
    "has_mean": False,
    "mean_type": 0,
    "unit_class": "energy",
}


def stat(start: str, total: float) -> dict[str, Any]:
    return {"start": start, "state": 1.0, "sum": total}


class Raw:
    """An authenticated bare connection with its own ids."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1

    async def call(self, kind: str, ident: int | None = None, **fields: Any) -> dict[str, Any]:
        if ident is None:
            ident, self.next_id = self.next_id, self.next_id + 1
        await self.ws.send(json.dumps({"id": ident, "type": kind, **fields}))
        answer: dict[str, Any] = json.loads(await self.ws.recv())
        assert answer["id"] == ident and answer["type"] == "result"
        return answer

    async def load(self, *stats: dict[str, Any], **meta: Any) -> dict[str, Any]:
        return await self.call(
            "recorder/import_statistics", metadata=META | meta, stats=list(stats)
        )


@pytest.fixture
async def raw(ha_server: FakeHomeAssistant) -> AsyncIterator[Raw]:
    async with connect(ha_server.url) as ws:
        assert json.loads(await ws.recv())["type"] == "auth_required"
        await ws.send(json.dumps({"type": "auth", "access_token": TOKEN}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        yield Raw(ws)


async def test_a_wrong_token_gets_auth_invalid(ha_server: FakeHomeAssistant) -> None:
    async with connect(ha_server.url) as ws:
        assert json.loads(await ws.recv())["type"] == "auth_required"
        await ws.send(json.dumps({"type": "auth", "access_token": "wrong"}))
        assert json.loads(await ws.recv())["type"] == "auth_invalid"
    assert ha_server.auth_refused == 1


async def test_ids_must_increase(raw: Raw) -> None:
    assert (await raw.call("recorder/list_statistic_ids", ident=5))["success"]
    again = await raw.call("recorder/list_statistic_ids", ident=5)
    assert again["success"] is False and again["error"]["code"] == "id_reuse"
    unknown = await raw.call("no/such_command", ident=6)
    assert unknown["error"]["code"] == "unknown_command"


@pytest.mark.parametrize(
    "start",
    ["2025-01-01T00:30:00+00:00", "2025-01-01T00:00:05+00:00", "2025-01-01T00:00:00", "noon"],
)
async def test_a_start_must_be_aware_and_on_the_hour(raw: Raw, start: str) -> None:
    answer = await raw.load(stat(start, 1.0))
    assert answer["success"] is False and answer["error"]["code"] == "invalid_format"


@pytest.mark.parametrize("key", sorted(META))
async def test_every_metadata_key_is_required(raw: Raw, key: str) -> None:
    meta = {k: v for k, v in META.items() if k != key}
    answer = await raw.call(
        "recorder/import_statistics", metadata=meta, stats=[stat("2025-01-01T00:00:00Z", 1.0)]
    )
    assert answer["success"] is False and key in answer["error"]["message"]


async def test_an_external_id_needs_its_domain_as_source(raw: Raw) -> None:
    assert not (await raw.load(source="other"))["success"]
    assert not (await raw.load(statistic_id="sensor.energy"))["success"]


async def test_a_sum_must_never_decrease(raw: Raw, ha_server: FakeHomeAssistant) -> None:
    inside = await raw.load(stat("2025-01-01T00:00:00Z", 2.0), stat("2025-01-01T01:00:00Z", 1.0))
    assert inside["success"] is False and "decreases" in inside["error"]["message"]
    assert (await raw.load(stat("2025-01-01T00:00:00Z", 2.0)))["success"]
    after = await raw.load(stat("2025-01-01T01:00:00Z", 1.5))
    assert after["success"] is False
    before = await raw.load(stat("2024-12-31T23:00:00Z", 2.5))
    assert before["success"] is False
    assert [total for _, _, total in ha_server.rows("test:energy_1")] == [2.0]


async def test_it_stores_replaces_and_answers(raw: Raw) -> None:
    first = [stat(f"2025-01-01T0{h}:00:00+00:00", float(h)) for h in range(4)]
    assert (await raw.load(*first))["success"]
    assert (await raw.load(stat("2025-01-01T02:00:00+01:00", 0.5)))["success"]  # 01:00 UTC
    listed = (await raw.call("recorder/list_statistic_ids", statistic_type="sum"))["result"]
    assert [item["statistic_id"] for item in listed] == ["test:energy_1"]
    answer = await raw.call(
        "recorder/statistics_during_period",
        start_time="2025-01-01T01:00:00+00:00",
        end_time="2025-01-01T03:00:00+00:00",
        statistic_ids=["test:energy_1", "test:nothing"],
        period="hour",
        types=["sum"],
    )
    rows = answer["result"]["test:energy_1"]
    assert [(r["start"], r["sum"]) for r in rows] == [(1735693200000, 0.5), (1735696800000, 2.0)]
    assert "test:nothing" not in answer["result"]
    by_day = await raw.call(
        "recorder/statistics_during_period", start_time="2025-01-01T00:00:00Z", period="day"
    )
    assert by_day["success"] is False
