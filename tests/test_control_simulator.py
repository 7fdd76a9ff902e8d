"""The Controller against the simulated cloud over real HTTP: send, refusals, read-back, timeouts.

The simulator's zappi executes a command over its next status reads (``cmt`` 1, 5, then 254 with
the settings changed); its device log says exactly what each command changed. The controller's
clock and sleep are a fake that jumps forward, so waiting costs no real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import stamina

from zapledger.client import Client
from zapledger.control import (
    BoostTimer,
    CommandResult,
    Controller,
    LockFlags,
    SetMode,
    charge_mode,
)
from zapledger.exceptions import (
    CommandArgumentError,
    CommandError,
    CommandFailedError,
    CommandNotConfirmedError,
)
from zapledger.models import SiteStatus, decode_status
from zapledger.simulator import Simulator

HUB = "10088888"
KEY = "control-test-key-7781"
Z1, Z2 = "16000001", "16000002"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
TIMEOUT_S, POLL_S = 30.0, 5.0


class FakeTime:
    """A monotonic clock that only moves when the controller sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, zappi_serials=(Z1, Z2), now=NOW) as s:
        yield s


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    """The module's simulator with its zappis fresh from the factory."""
    shared_sim.reset_devices()
    return shared_sim


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None) as c:
        await c.site_status()  # the digest handshake, so the counts below are the commands' own
        sim.reset_stats()
        yield c


@pytest.fixture
def controller(client: Client, fake_time: FakeTime) -> Controller:
    return Controller(
        client,
        timeout_s=TIMEOUT_S,
        poll_interval_s=POLL_S,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )


def commands(sim: Simulator) -> int:
    return sim.stats.by_kind.get("command", 0)


# --- each command, confirmed, with its exact effect on the device ----------------------------

EMPTY_SLOT = (0, 0, 0, 0, "00000000")
WEEKEND_SLOT = BoostTimer(
    12, time(23, 30), timedelta(hours=2, minutes=30), frozenset({"sat", "sun"})
)


#: The factory settings of the simulated zappi are in the changes' "before" values.
@pytest.mark.parametrize(
    ("method", "args", "sent", "read_back", "changes"),
    [
        (
            "set_mode",
            ("fast",),
            f"/cgi-zappi-mode-Z{Z1}-1-0-0-0000",
            {"zmo": 1},
            {"zmo": (None, 1)},
        ),
        (
            "set_mode",
            ("eco+",),
            f"/cgi-zappi-mode-Z{Z1}-3-0-0-0000",
            {"zmo": 3},
            {"zmo": (None, 3)},
        ),
        (
            "boost",
            (7,),
            f"/cgi-zappi-mode-Z{Z1}-0-10-7-0000",
            {"bsm": 1, "tbk": 7},
            {"bsm": (0, 1), "tbk": (5, 7)},
        ),
        (
            "smart_boost",
            (12, "07:45"),
            f"/cgi-zappi-mode-Z{Z1}-0-11-12-0745",
            {"bss": 1, "sbh": 7, "sbm": 45, "sbk": 12},
            {"bss": (0, 1), "sbh": (17, 7), "sbm": (0, 45), "sbk": (20, 12)},
        ),
        (
            "set_min_green",
            (40,),
            f"/cgi-set-min-green-Z{Z1}-40",
            {"mgl": 40},
            {"mgl": (100, 40)},
        ),
        ("set_priority", (2,), f"/cgi-set-priority-Z{Z1}-2", {"pri": 2}, {"pri": (1, 2)}),
        (
            "set_phases",
            ("auto",),
            f"/cgi-zappi-phase-setting-Z{Z1}-2",
            {"phaseSetting": "AUTO"},
            {"phaseSetting": ("SINGLE_PHASE", "AUTO")},
        ),
        (
            "set_locks",
            (LockFlags(lock_when_plugged=True),),
            f"/cgi-jlock-{Z1}-00010010",
            {"lck": 18},
            {"lck": (16, 18)},  # factory 16 = session allowed; + bit 1 (lock when plugged)
        ),
        (
            "set_boost_timer",
            (WEEKEND_SLOT,),
            f"/cgi-boost-time-Z{Z1}-12-2330-230-00000011",
            {"slt": 12, "bsh": 23, "bsm": 30, "bdh": 2, "bdm": 30, "bdd": "00000011"},
            {"boost_time_12": (EMPTY_SLOT, (23, 30, 2, 30, "00000011"))},
        ),
    ],
)
async def test_each_command_is_executed_and_read_back(
    sim: Simulator,
    controller: Controller,
    method: str,
    args: tuple[Any, ...],
    sent: str,
    read_back: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    result: CommandResult = await getattr(controller, method)(*args)
    assert result.confirmed and result.serial == Z1 and result.sent == sent
    assert result.state == read_back
    [entry] = sim.device_log
    assert (entry.path, entry.outcome, dict(entry.changes)) == (sent, "ok", changes)


async def test_stop_boost_clears_both_boost_flags(sim: Simulator, controller: Controller) -> None:
    await controller.smart_boost(10, time(6, 0))
    result = await controller.stop_boost()
    assert result.state == {"bsm": 0, "bss": 0}
    assert dict(sim.device_log[-1].changes) == {"bss": (1, 0)}


async def test_a_second_zappi_is_addressed_by_serial(
    sim: Simulator, controller: Controller
) -> None:
    result = await controller.set_min_green(25, serial=f"Z{Z2}")
    assert result.serial == Z2
    assert sim.device_settings(Z2)["mgl"] == 25
    assert sim.device_settings(Z1)["mgl"] == 100


async def test_the_read_back_waits_for_the_device(
    sim: Simulator, controller: Controller, fake_time: FakeTime
) -> None:
    result = await controller.set_priority(3)
    # the device shows cmt 1 and 5 (old priority) before 254 with the new one: three polls
    assert (result.polls, result.command_timer) == (3, 254)
    assert fake_time.sleeps == [POLL_S, POLL_S]
    assert result.waited_s == 2 * POLL_S


async def test_without_waiting_nothing_is_read_back(sim: Simulator, controller: Controller) -> None:
    result = await controller.set_mode("stop", wait=False)
    assert (result.confirmed, result.state, result.polls) == (False, None, 0)
    assert result.answer["status"] == 0
    assert sim.device_log[-1].outcome == "pending"
    assert sim.stats.by_kind == {"status": 1, "command": 1}


async def test_the_result_as_json(sim: Simulator, controller: Controller) -> None:
    data = (await controller.boost(9)).as_dict()
    assert data == {
        "command": "boost",
        "arguments": {"energy_kwh": 9},
        "serial": Z1,
        "sent": f"/cgi-zappi-mode-Z{Z1}-0-10-9-0000",
        "answer": {"status": 0, "statustext": "", "asn": sim.asn},
        "expected": {"bsm": 1, "tbk": 9},
        "confirmed": True,
        "state": {"bsm": 1, "tbk": 9},
        "command_timer": 254,
        "unverified": [],
        "polls": 3,
        "waited_s": 10.0,
    }
    assert KEY not in repr(data)


async def test_boost_timers_are_read(sim: Simulator, controller: Controller) -> None:
    timers = await controller.boost_timers(serial=Z2)
    assert timers.serial == Z2
    assert [t.as_dict()["days"] for t in timers.timers][:2] == [
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        [],
    ]
    assert commands(sim) == 0 and sim.stats.by_kind["boost-time"] == 1


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "meaning"),
    [
        ("unauthorised", -12, "not authorised"),
        ("not-found", -13, "serial not found"),
        ("invalid", -14, "invalid parameter"),
        ("busy", -26, "device busy"),
    ],
)
@pytest.mark.parametrize("numeric", [False, True], ids=["string", "number"])
async def test_each_refusal_code(
    sim: Simulator, controller: Controller, kind: str, code: int, meaning: str, numeric: bool
) -> None:
    sim.force_command(kind, numeric=numeric)
    with pytest.raises(CommandError) as info:
        await controller.set_mode("eco")
    assert (info.value.code, info.value.meaning) == (code, meaning)
    assert info.value.endpoint == f"cgi-zappi-mode-Z{Z1}-2-0-0-0000"
    assert meaning in str(info.value)
    assert sim.device_log[-1].outcome == "refused"
    assert sim.stats.by_kind == {"status": 1, "command": 1}  # no read-back after a refusal


async def test_a_serial_the_hub_does_not_have_is_refused_before_sending(
    sim: Simulator, controller: Controller
) -> None:
    with pytest.raises(CommandArgumentError, match=f"zappi 99999999 is not on this hub.*{Z1}"):
        await controller.set_mode("fast", serial="99999999")
    assert commands(sim) == 0 and sim.device_log == ()


async def test_a_hub_without_zappis_takes_no_command(
    sim: Simulator,
    controller: Controller,
    monkeypatch: pytest.MonkeyPatch,
    fixture_bytes: Callable[[str], bytes],
) -> None:
    no_zappi = decode_status(fixture_bytes("status_empty_families.json"))
    assert no_zappi.zappis == ()

    async def site_status() -> SiteStatus:
        return no_zappi

    monkeypatch.setattr(controller.client, "site_status", site_status)
    with pytest.raises(CommandArgumentError, match="reports no zappi"):
        await controller.stop_boost()
    assert commands(sim) == 0


async def test_not_a_command_is_refused(sim: Simulator, controller: Controller) -> None:
    with pytest.raises(CommandArgumentError, match="not a command"):
        await controller.run("mode fast")  # type: ignore[arg-type]
    assert sim.stats.total == 0


# --- the charger reports failure, or never confirms -------------------------------------------


async def test_cmt_253_is_a_command_failure(sim: Simulator, controller: Controller) -> None:
    sim.force_command("fail")
    with pytest.raises(CommandFailedError) as info:
        await controller.set_min_green(55)
    assert (info.value.code, info.value.endpoint) == (253, f"cgi-set-min-green-Z{Z1}-55")
    assert isinstance(info.value, CommandError)
    assert sim.device_log[-1].outcome == "failed"
    assert sim.device_settings(Z1)["mgl"] == 100


async def test_a_stalled_command_times_out(
    sim: Simulator, controller: Controller, fake_time: FakeTime
) -> None:
    sim.force_command("stall")
    start = fake_time.now
    with pytest.raises(
        CommandNotConfirmedError, match=r"not confirmed within 30 s \(cmt 10"
    ) as info:
        await controller.set_mode("fast")
    assert fake_time.now - start == TIMEOUT_S
    assert sum(fake_time.sleeps) == TIMEOUT_S  # the last sleep ends at the deadline, not after
    assert info.value.endpoint == f"cgi-zappi-mode-Z{Z1}-1-0-0-0000"
    assert sim.stats.by_kind["status"] == 1 + int(TIMEOUT_S / POLL_S) + 1
    assert sim.device_log[-1].outcome == "stalled"


async def test_a_command_done_without_effect_is_not_confirmed(
    sim: Simulator, controller: Controller
) -> None:
    sim.force_command("ignore")
    with pytest.raises(
        CommandNotConfirmedError, match=r"cmt 254; asked \{'pri': 4\}; read \{.*'pri': 1"
    ):
        await controller.set_priority(4)
    assert sim.device_log[-1].outcome == "ignored"


async def test_a_boost_timer_done_without_effect_is_not_confirmed(
    sim: Simulator, controller: Controller
) -> None:
    sim.force_command("ignore")
    with pytest.raises(CommandNotConfirmedError):
        await controller.set_boost_timer(WEEKEND_SLOT)
    assert sim.stats.by_kind["boost-time"] >= 2  # the slot table is read back while cmt is 254


async def test_a_253_left_by_an_earlier_command_is_not_this_ones(fake_time: FakeTime) -> None:
    """With no in-flight phase seen, a 253 that was there before says nothing about this command."""
    with Simulator(
        hub_serial=HUB, api_key=KEY, zappi_serials=(Z1,), now=NOW, command_reads=0
    ) as sim:
        async with Client(HUB, KEY, director_url=sim.url, rate_limit_per_s=None) as client:
            controller = Controller(
                client, timeout_s=10, clock=fake_time.clock, sleep=fake_time.sleep
            )
            sim.force_command("fail", 2)
            with pytest.raises(CommandFailedError):
                await controller.set_mode("eco")
            with pytest.raises(CommandNotConfirmedError, match="cmt 253"):
                await controller.set_mode("eco")
            result = await controller.set_mode("eco")
            assert (result.confirmed, result.polls) == (True, 1)


async def test_a_field_this_firmware_does_not_report_is_listed_unverified(
    sim: Simulator, client: Client, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = client.zappi_status

    async def without_phase_setting(serial: str | None = None) -> Any:
        from dataclasses import replace

        status = await real(serial)
        return replace(status, raw={k: v for k, v in status.raw.items() if k != "phaseSetting"})

    monkeypatch.setattr(client, "zappi_status", without_phase_setting)
    controller = Controller(client, clock=fake_time.clock, sleep=fake_time.sleep)
    result = await controller.set_phases("three")
    assert result.confirmed and result.unverified == ("phaseSetting",)
    assert result.state == {}


async def test_a_read_back_that_fails_says_the_command_was_accepted(sim: Simulator) -> None:
    async with Client(
        HUB, KEY, director_url=sim.url, rate_limit_per_s=None, max_attempts=1
    ) as client:
        controller = Controller(client, poll_interval_s=0.001)
        sim.fail_next("503", 1, path_contains=f"cgi-jstatus-Z{Z1}")
        with pytest.raises(CommandNotConfirmedError, match="accepted, but reading it back failed"):
            await controller.set_priority(6)
    assert sim.device_log[-1].path == f"/cgi-set-priority-Z{Z1}-6"


def test_controller_settings_are_checked(client: Client) -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        Controller(client, poll_interval_s=0)
    with pytest.raises(ValueError, match="timeout_s"):
        Controller(client, timeout_s=-1)


async def test_the_real_clock_and_sleep_are_used_by_default(sim: Simulator, client: Client) -> None:
    controller = Controller(client, timeout_s=60.0, poll_interval_s=0.01)
    result = await controller.set_mode(charge_mode("fast"))
    assert result.confirmed and result.polls == 3
    assert result.waited_s >= 2 * 0.01  # two real sleeps between the three polls


async def test_run_takes_a_built_command(sim: Simulator, controller: Controller) -> None:
    result = await controller.run(SetMode(charge_mode("stop")), serial=int(Z2))
    assert (result.serial, result.state) == (Z2, {"zmo": 4})
