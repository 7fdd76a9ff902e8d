"""The simulated zappi as a device that executes commands: timing, faults on demand, the log.

Plain HTTP (httpx with digest auth) against the simulator, so what is checked is the wire
behaviour any client sees, not zapledger's reading of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from zapledger.simulator import COMMAND_FAULT_KINDS, CommandFaults, Simulator
from zapledger.simulator.server import main as simulator_main

HUB, KEY = "10088888", "device-test-key-5521"
Z = "16000001"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, zappi_serials=(Z,), now=NOW) as s:
        yield s


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    """The module's simulator with its zappi fresh from the factory."""
    shared_sim.reset_devices()
    shared_sim.command_faults = None
    return shared_sim


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), timeout=5) as c:
        yield c


def get(sim: Simulator, http: httpx.Client, path: str) -> Any:
    reply = http.get(f"{sim.asn_url}{path}")
    assert reply.status_code == 200
    return reply.json()


def status(sim: Simulator, http: httpx.Client) -> dict[str, Any]:
    zappi: dict[str, Any] = get(sim, http, f"/cgi-jstatus-Z{Z}")["zappi"][0]
    return zappi


def test_settings_change_only_when_cmt_shows_254(sim: Simulator, http: httpx.Client) -> None:
    assert get(sim, http, f"/cgi-set-priority-Z{Z}-3")["status"] == 0
    reads = [status(sim, http) for _ in range(3)]
    assert [(r["cmt"], r["pri"]) for r in reads] == [(1, 1), (5, 1), (254, 3)]
    [entry] = sim.device_log
    assert (entry.command, entry.requested, entry.outcome) == ("priority", {"pri": 3}, "ok")
    assert entry.changes == {"pri": (1, 3)}
    assert entry.at == NOW and entry.serial == Z


def test_a_new_command_completes_the_one_in_flight(sim: Simulator, http: httpx.Client) -> None:
    get(sim, http, f"/cgi-set-min-green-Z{Z}-20")
    get(sim, http, f"/cgi-set-min-green-Z{Z}-30")
    assert [e.outcome for e in sim.device_log] == ["ok", "pending"]
    assert sim.device_settings(Z)["mgl"] == 20
    assert status(sim, http)["cmt"] == 1


def test_fail_ends_at_253_without_effect(sim: Simulator, http: httpx.Client) -> None:
    sim.force_command("fail")
    assert get(sim, http, f"/cgi-zappi-mode-Z{Z}-4-0-0-0000")["status"] == 0
    assert [status(sim, http)["cmt"] for _ in range(3)] == [1, 5, 253]
    assert sim.device_log[-1].outcome == "failed"
    assert sim.device_settings(Z)["zmo"] is None


def test_stall_counts_to_10_and_stays(sim: Simulator, http: httpx.Client) -> None:
    sim.force_command("stall")
    get(sim, http, f"/cgi-zappi-mode-Z{Z}-1-0-0-0000")
    assert [status(sim, http)["cmt"] for _ in range(5)] == [1, 5, 9, 10, 10]
    assert sim.device_log[-1].outcome == "stalled"
    get(sim, http, f"/cgi-zappi-mode-Z{Z}-2-0-0-0000")  # the device takes the next one
    assert [status(sim, http)["cmt"] for _ in range(3)] == [1, 5, 254]
    assert sim.device_settings(Z)["zmo"] == 2


def test_ignore_ends_at_254_without_effect(sim: Simulator, http: httpx.Client) -> None:
    sim.force_command("ignore")
    get(sim, http, f"/cgi-jlock-{Z}-00000001")
    assert [status(sim, http)["cmt"] for _ in range(3)] == [1, 5, 254]
    assert (sim.device_log[-1].outcome, sim.device_settings(Z)["lck"]) == ("ignored", 16)


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("busy", {"status": "-26", "statustext": ""}),
        ("invalid", {"status": "-14", "statustext": ""}),
        ("unauthorised", {"status": "-12", "statustext": ""}),
        ("not-found", {"status": "-13", "statustext": ""}),
    ],
)
def test_forced_refusals(sim: Simulator, http: httpx.Client, kind: str, answer: Any) -> None:
    sim.force_command(kind)
    assert get(sim, http, f"/cgi-set-priority-Z{Z}-2") == answer
    sim.force_command(kind, numeric=True)
    assert get(sim, http, f"/cgi-set-priority-Z{Z}-2")["status"] == int(answer["status"])
    assert [e.outcome for e in sim.device_log] == ["refused", "refused"]
    assert status(sim, http)["cmt"] == 254  # a refused command never reaches the device


def test_forced_faults_are_used_up_in_order(sim: Simulator, http: httpx.Client) -> None:
    sim.force_command("busy", 2)
    codes = [get(sim, http, f"/cgi-set-priority-Z{Z}-2")["status"] for _ in range(3)]
    assert codes == ["-26", "-26", 0]


def test_the_boost_timer_table_read_is_no_command(sim: Simulator, http: httpx.Client) -> None:
    sim.force_command("busy")
    assert "boost_times" in get(sim, http, f"/cgi-boost-time-Z{Z}")
    assert sim.device_log == ()
    assert get(sim, http, f"/cgi-boost-time-Z{Z}-11-0100-100-01000000")["status"] == "-26"


def test_random_device_faults_follow_their_rates(http: httpx.Client) -> None:
    faults = CommandFaults.parse("busy=0.3,fail=0.2")
    with Simulator(
        hub_serial=HUB,
        api_key=KEY,
        zappi_serials=(Z,),
        now=NOW,
        command_faults=faults,
        command_reads=0,
    ) as sim:
        for _ in range(150):
            get(sim, http, f"/cgi-set-priority-Z{Z}-2")
        outcomes = [e.outcome for e in sim.device_log]
    assert 25 <= outcomes.count("refused") <= 65  # 45 expected
    assert 12 <= outcomes.count("failed") <= 48  # 30 expected
    assert outcomes.count("ok") == 150 - outcomes.count("refused") - outcomes.count("failed")


def test_device_faults_can_change_while_running(sim: Simulator) -> None:
    assert sim.command_faults == CommandFaults()
    sim.command_faults = "stall=1"
    assert sim.command_faults.p_stall == 1.0
    sim.command_faults = None
    assert sim.command_faults.spec() == "none"


def test_command_fault_specs() -> None:
    faults = CommandFaults.parse(" busy=0.1, invalid=0.05 ,fail=0.05,stall=0.01,ignore=0.02 ")
    assert faults.spec() == "busy=0.1,invalid=0.05,fail=0.05,stall=0.01,ignore=0.02"
    assert CommandFaults.parse(faults.spec()) == faults
    assert CommandFaults.parse("off") == CommandFaults.parse("") == CommandFaults()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("boom=0.1", "KEY=RATE"),
        ("busy", "KEY=RATE"),
        ("busy=x", "bad rate"),
        ("busy=0.1,busy=0.2", "twice"),
        ("busy=1.5", "not within 0..1"),
        ("busy=0.6,fail=0.6", "more than 1"),
    ],
)
def test_bad_command_fault_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CommandFaults.parse(spec)


def test_unknown_forced_faults_are_refused(sim: Simulator) -> None:
    assert "busy" in COMMAND_FAULT_KINDS
    with pytest.raises(ValueError, match="unknown command fault"):
        sim.force_command("explode")
    with pytest.raises(ValueError, match="at least 1"):
        sim.force_command("busy", 0)


def test_commands_complete_at_once_with_no_command_reads(http: httpx.Client) -> None:
    with Simulator(
        hub_serial=HUB, api_key=KEY, zappi_serials=(Z,), now=NOW, command_reads=0
    ) as sim:
        get(sim, http, f"/cgi-set-min-green-Z{Z}-60")
        assert (status(sim, http)["cmt"], status(sim, http)["mgl"]) == (254, 60)
        sim.advance(timedelta(minutes=1))
        assert sim.device_log[-1].outcome == "ok"


def test_the_command_line_takes_device_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        simulator_main(["--command-faults", "nonsense=1"])
    assert info.value.code == 2
    assert "command fault" in capsys.readouterr().err


def test_a_reset_brings_the_factory_settings_back(sim: Simulator, http: httpx.Client) -> None:
    get(sim, http, f"/cgi-set-min-green-Z{Z}-20")
    [status(sim, http) for _ in range(3)]
    assert sim.device_settings(Z)["mgl"] == 20
    sim.force_command("busy", 2)
    assert get(sim, http, f"/cgi-set-min-green-Z{Z}-30")["status"] == "-26"
    sim.reset_devices()
    assert sim.device_log == ()
    assert sim.device_settings(Z)["mgl"] == 100
    assert get(sim, http, f"/cgi-set-min-green-Z{Z}-30") == {"mgl": 30}  # the 2nd busy is gone
