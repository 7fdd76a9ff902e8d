"""The control commands of the CLI end to end against the simulator: output, exit codes, prompts."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from zapledger.cli import _control, main
from zapledger.cli._common import CLIENT_OPTIONS
from zapledger.simulator import Simulator

HUB = "10088888"
KEY = "cli-control-key-0412"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
Z1, Z2 = "16000001", "16000002"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(hub_serial=HUB, api_key=KEY, zappi_serials=(Z1, Z2), now=NOW) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setitem(_control.CONTROLLER_OPTIONS, "poll_interval_s", 0.001)
    monkeypatch.setitem(CLIENT_OPTIONS, "rate_limit_per_s", None)
    return sim


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the user's answers in it."""

    def isatty(self) -> bool:
        return True


def sent_since(sim: Simulator, count: int) -> list[str]:
    return [entry.path for entry in sim.device_log[count:]]


# --- each command -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "path", "said"),
    [
        (("mode", "eco+"), f"/cgi-zappi-mode-Z{Z1}-3-0-0-0000", "mode eco+: done (read back zmo=3"),
        (("mode", "fast", "--serial", Z2), f"/cgi-zappi-mode-Z{Z2}-1-0-0-0000", f"zappi {Z2}"),
        (("boost", "7"), f"/cgi-zappi-mode-Z{Z1}-0-10-7-0000", "boost of 7 kWh: done"),
        (
            ("boost", "5", "--by", "07:30"),
            f"/cgi-zappi-mode-Z{Z1}-0-11-5-0730",
            "smart boost of 5 kWh by 07:30: done",
        ),
        (("min-green", "40"), f"/cgi-set-min-green-Z{Z1}-40", "mgl=40"),
        (("priority", "2"), f"/cgi-set-priority-Z{Z1}-2", "pri=2"),
        (("phases", "three"), f"/cgi-zappi-phase-setting-Z{Z1}-1", "phaseSetting=THREE_PHASE"),
        (("lock", "--plugged", "--charging"), f"/cgi-jlock-{Z1}-00011010", "lck=26"),
        (
            (
                "boost-timers",
                "set",
                "13",
                "--start",
                "6:15",
                "--duration",
                "1:45",
                "--days",
                "mon-fri",
            ),
            f"/cgi-boost-time-Z{Z1}-13-0615-145-01111100",
            "boost timer 13: 06:15 for 1:45 on mon, tue, wed, thu, fri: done",
        ),
        (
            ("boost-timers", "set", "14", "--clear"),
            f"/cgi-boost-time-Z{Z1}-14-0000-000-00000000",
            "clear boost timer 14: done",
        ),
    ],
)
def test_each_command_is_sent_and_confirmed(
    env: Simulator, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], path: str, said: str
) -> None:
    before = len(env.device_log)
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert said in out
    assert sent_since(env, before) == [path]
    assert env.device_log[-1].outcome == "ok"


def test_json_says_what_was_sent_the_answer_and_the_state(
    env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "min-green", "35", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["sent"] == f"/cgi-set-min-green-Z{Z1}-35"
    assert data["answer"] == {"mgl": 35}
    assert (data["expected"], data["state"], data["confirmed"]) == ({"mgl": 35}, {"mgl": 35}, True)
    assert data["command_timer"] == 254
    assert KEY not in out


def test_no_wait_returns_once_accepted(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "priority", "3", "--no-wait", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["confirmed"], data["state"], data["polls"]) == (False, None, 0)
    code, out, _ = run(capsys, "priority", "4", "--no-wait")
    assert "accepted by the cloud (not waiting" in out


def test_boost_timers_show(env: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "boost-timers")
    assert code == 0
    assert f"Boost timers of zappi {Z1}" in out and "01:00" in out
    code, out, _ = run(capsys, "boost-timers", "show", "--serial", Z2, "--json")
    data = json.loads(out)
    assert data["serial"] == Z2
    assert [t["slot"] for t in data["timers"]] == [11, 12, 13, 14]
    code, out, _ = run(capsys, "boost-timers", "--json")
    assert json.loads(out)["serial"] == Z1


# --- bad input: exit 2, nothing sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("boost", "0"), "1..99"),
        (("boost", "100"), "1..99"),
        (("boost",), "give the kWh"),
        (("boost", "5", "--stop"), "--stop takes no kWh"),
        (("boost", "5", "--by", "07:10"), "quarter hours"),
        (("boost", "5", "--by", "7.30"), "HH:MM"),
        (("min-green", "0"), "1..100"),
        (("min-green", "101"), "1..100"),
        (("priority", "0"), "1..9"),
        (("phases", "two"), "two"),
        (("mode", "turbo"), "turbo"),
        (("lock",), "at least one lock flag"),
        (("mode", "eco", "--serial", "abc"), "digits"),
        (("mode", "eco", "--serial", "99999999"), "not on this hub"),
        (("boost-timers", "set", "10", "--clear"), "11..14"),
        (("boost-timers", "set", "12", "--start", "23:30"), "--duration and --days"),
        (("boost-timers", "set", "12", "--clear", "--days", "all"), "--clear takes no"),
        (
            ("boost-timers", "set", "12", "--start", "1:00", "--duration", "9:00", "--days", "all"),
            "8:45",
        ),
        (
            ("boost-timers", "set", "12", "--start", "1:00", "--duration", "1:00", "--days", "x"),
            "days are mon..sun",
        ),
        (("boost-timers", "--serial", "x1"), "digits"),
    ],
)
def test_bad_arguments_exit_2_and_send_nothing(
    env: Simulator, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    before = len(env.device_log)
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in " ".join(err.split())
    assert sent_since(env, before) == []


# --- refusals and failures: exit 7 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("busy", "code -26 (device busy)"),
        ("invalid", "code -14 (invalid parameter)"),
        ("unauthorised", "code -12 (not authorised)"),
        ("not-found", "code -13 (serial not found)"),
        ("fail", "the charger reported the command failed (cmt 253)"),
    ],
)
def test_refused_or_failed_commands_exit_7(
    env: Simulator, capsys: pytest.CaptureFixture[str], fault: str, message: str
) -> None:
    env.force_command(fault)
    code, out, err = run(capsys, "mode", "eco")
    assert code == 7
    assert message in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_a_command_never_confirmed_exits_7(
    env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    env.force_command("stall")
    code, _, err = run(capsys, "priority", "5", "--timeout", "0.05")
    assert code == 7
    assert "accepted, but not confirmed within 0.05 s" in err


# --- confirmation before interrupting a charge ------------------------------------------------


def test_stop_asks_on_a_terminal_and_a_no_sends_nothing(
    env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    before = len(env.device_log)
    code, out, err = run(capsys, "mode", "stop")
    assert code == 1
    assert "mode stop interrupts a charge. Send it?" in out
    assert "aborted" in out + err
    assert sent_since(env, before) == []


@pytest.mark.parametrize(
    "args",
    [("boost", "--stop"), ("lock", "--now"), ("lock", "--no-session-allowed"), ("mode", "stop")],
)
def test_a_yes_on_the_terminal_sends_it(
    env: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    before = len(env.device_log)
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "interrupts a charge. Send it?" in out
    assert len(sent_since(env, before)) == 1


def test_yes_flag_skips_the_question(
    env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(""))
    code, out, _ = run(capsys, "boost", "--stop", "--yes")
    assert code == 0
    assert "Send it?" not in out


def test_scripts_without_a_terminal_are_not_asked(
    env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, _ = run(capsys, "mode", "stop")
    assert code == 0
    assert "Send it?" not in out


def test_commands_that_do_not_interrupt_are_not_asked(
    env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(""))
    code, out, _ = run(capsys, "mode", "eco")
    assert code == 0
    assert "Send it?" not in out


# --- the simulator's device faults from the command line --------------------------------------


def test_simulate_rejects_bad_command_faults(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "simulate", "--port", "0", "--command-faults", "boom=1")
    assert code == 2
    assert "command fault" in err


def test_simulate_runs_with_device_faults() -> None:
    """``zapledger simulate --command-faults busy=1``: its zappi refuses every command as busy."""
    code = "import sys; from zapledger.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["simulate", "--port", "0", "--hub-serial", HUB, "--api-key", KEY]
    with subprocess.Popen(
        [sys.executable, "-c", code, *args, "--command-faults", "busy=1"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            text = ""
            for _ in range(10):  # rich wraps the lines at the terminal width
                text += proc.stdout.readline()
                if ", zappi " in text:
                    break
            url = text.split("listening on ")[1].split()[0]
            zappi = text.split(", zappi ")[1].split()[0]
            with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), timeout=5) as http:
                reply = http.get(f"{url}/cgi-set-priority-Z{zappi}-2")
            assert reply.json() == {"status": "-26", "statustext": ""}
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()


def test_help_lists_the_control_commands(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--help")
    for command in ("mode", "boost", "min-green", "priority", "phases", "lock", "boost-timers"):
        assert command in out
