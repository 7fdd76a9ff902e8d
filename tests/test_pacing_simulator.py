"""Pacing against the simulator's throttle: every day stored, Retry-After kept, limits learned."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from zapledger import sync
from zapledger.backfill import SyncEvent, SyncPlanned, SyncSummary
from zapledger.cli import main
from zapledger.client import Client
from zapledger.models import Resolution
from zapledger.pacing import START_RATE_PER_S
from zapledger.simulator import Answer, AsnHeader, Simulator, Throttle
from zapledger.store import Store, open_store

HUB = "10077777"
KEY = "pacing-test-key-5150"
ZAPPI = "16000001"
TZ = "Europe/London"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
FIRST = date(2024, 11, 4)  # winter: one request per minute day
DAYS = 14
LAST = FIRST + timedelta(days=DAYS - 1)
THROTTLE = "2/s,burst=2"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # 2 requests/s, a burst of 2: the pacing starts at 2/s and outgrows it within seconds, however
    # slow or fast the machine (requests are spaced by the pacing, not by the answers)
    with Simulator(seed=3, hub_serial=HUB, api_key=KEY, now=NOW, throttle=THROTTLE) as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'pacing.sqlite3'}") as s:
        yield s


async def backfill(
    client: Client, store: Store, on_event: Callable[[SyncEvent], None] | None = None
) -> SyncSummary:
    """``zapledger.sync`` of the minute days of one zappi."""
    report = await sync(
        store, FIRST, LAST, TZ, client=client, serial=ZAPPI, resolutions=[Resolution.MINUTE],
        now=NOW, on_event=on_event,
    )  # fmt: skip
    (summary,) = report.summaries
    return summary


def stored_days(store: Store) -> list[date]:
    states = store.sync_states(ZAPPI, Resolution.MINUTE, FIRST, LAST)
    return sorted(day for day, state in states.items() if state.error is None and state.records)


async def test_a_sync_against_a_throttling_cloud_stores_every_day(
    sim: Simulator, store: Store
) -> None:
    async with Client(HUB, KEY, director_url=sim.url) as client:
        summary = await backfill(client, store)
    assert sim.throttle is not None and sim.throttle.refused > 0, "the cloud did throttle"
    assert summary.ok and summary.days_written == DAYS
    assert stored_days(store) == [FIRST + timedelta(days=i) for i in range(DAYS)]
    assert summary.refused == sim.throttle.refused and summary.throttled >= 1


def test_the_cli_against_a_throttling_cloud_exits_0_with_every_day(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    db = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{db}")
    monkeypatch.setenv("ZAPLEDGER_ZAPPI_SERIAL", ZAPPI)
    code = main(["sync", "--minute", "--from", str(FIRST), "--to", str(LAST), "--tz", TZ])
    out = capsys.readouterr().out
    assert code == 0, out
    assert sim.throttle is not None and sim.throttle.refused > 0
    assert f"{DAYS} day(s) stored" in out and "the cloud throttled" in out
    with open_store(f"sqlite:///{db}") as store:
        assert len(stored_days(store)) == DAYS


class Recorder(httpx.AsyncBaseTransport):
    """The wire below the pacing: when each request left and each answer arrived, by server."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, float]] = []
        self.refusals: list[tuple[str, float, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        server = request.url.netloc.decode()
        self.sent.append((server, time.monotonic()))
        response = await self._inner.handle_async_request(request)
        if response.status_code == 429:
            after = float(response.headers["Retry-After"])
            self.refusals.append((server, time.monotonic(), after))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_no_request_goes_to_a_server_before_its_retry_after_has_passed(
    store: Store,
) -> None:
    # one request every 2 s, no burst: the cloud answers most of them 429, Retry-After: 2
    with Simulator(seed=3, hub_serial=HUB, api_key=KEY, now=NOW, throttle="0.5/s,burst=1") as sim:
        recorder = Recorder()
        async with Client(HUB, KEY, director_url=sim.url, transport=recorder) as client:
            for _ in range(3):
                await client.site_status()
    assert len(recorder.refusals) >= 2
    for server, refused_at, retry_after_s in recorder.refusals:
        later = [t for s, t in recorder.sent if s == server and t > refused_at]
        assert later, "the refused request was sent again"
        # to the millisecond the client could see: its own clock at the moment the 429 arrived
        assert min(later) - refused_at >= retry_after_s - 0.001


async def test_a_digest_challenge_is_answered_without_waiting_for_the_rate(
    sim: Simulator,
) -> None:
    sim.throttle = None
    recorder = Recorder()
    async with Client(HUB, KEY, director_url=sim.url, transport=recorder) as client:
        await client.site_status()  # the director: a challenge, then the request with its digest
        await client.site_status()  # the asn server: the digest is known
        await client.site_status()
    (challenge, answer), (first, second) = (
        [t for server, t in recorder.sent if server == sim.servers[name]]
        for name in ("director", "asn1")
    )
    assert answer - challenge < 0.5 / START_RATE_PER_S
    assert second - first >= 1 / START_RATE_PER_S - 0.001  # two requests: spaced by the rate


async def test_the_next_run_starts_from_the_learned_limits(
    sim: Simulator, store: Store, tmp_path: Path
) -> None:
    async with Client(HUB, KEY, director_url=sim.url) as client:
        first = await backfill(client, store)
    kept = store.pacing_limits(HUB)
    asn = sim.asn
    assert first.throttled >= 1 and kept[asn].ceiling_per_s is not None
    starts: list[float] = []
    sim.throttle = Throttle.parse(THROTTLE)  # the run after, not right after: a full bucket again
    # a fresh database of the same account that holds only what the first run learned
    with open_store(f"sqlite:///{tmp_path / 'again.sqlite3'}") as again:
        again.save_pacing_limits(HUB, kept)
        async with Client(HUB, KEY, director_url=sim.url) as client:

            def on_event(event: SyncEvent) -> None:
                if isinstance(event, SyncPlanned):
                    starts.append(client.pacing.server(asn).rate_per_s)

            second = await backfill(client, again, on_event)
    assert starts == [pytest.approx(kept[asn].rate_per_s)]
    assert second.ok and second.days_written == DAYS
    assert second.refused < first.refused


async def test_the_director_is_asked_at_start_and_when_an_answer_names_no_server_only(
    sim: Simulator,
) -> None:
    sim.throttle = None
    async with Client(
        HUB, KEY, director_url=sim.url, adaptive=False, backoff_initial_s=0, backoff_max_s=0
    ) as client:
        for i in range(100):
            if i == 30:
                sim.fail_next("500", count=2)
            if i == 60:
                sim.answer(Answer(None, None, asn=AsnHeader(name=None)))
            await client.site_status()
    authorized = [r.server for r in sim.requests if r.authorized]
    # call 0 (after a digest challenge) and call 61, after the answer naming no server; the
    # failures in the middle change nothing
    assert [n for n, server in enumerate(authorized) if server == "director"] == [0, 61]
    assert len(authorized) == 100
    stats = sim.stats
    assert stats.faults == {"500": 2}
    assert stats.by_server["director"] == 3  # a digest challenge, then calls 0 and 61
