"""Commands as checked values: every argument is checked when the command is built (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

import pytest

from zapledger.control import (
    BoostTimer,
    ChargeMode,
    LockFlags,
    ManualBoost,
    PhaseSetting,
    SetBoostTimer,
    SetLocks,
    SetMinGreen,
    SetMode,
    SetPhases,
    SetPriority,
    SmartBoost,
    StopBoost,
    charge_mode,
    check_serial,
    decode_boost_timers,
    parse_days,
    parse_duration,
    parse_hhmm,
    phase_setting,
)
from zapledger.exceptions import BadResponseError, CommandArgumentError
from zapledger.models import ZappiStatus, decode_zappi

Z = "16000001"


def loose(value: object) -> Any:
    """A value of the wrong type, as an untyped caller (MQTT, JSON) could pass it."""
    return value


@pytest.fixture
def before(fixture_bytes: Callable[[str], bytes]) -> ZappiStatus:
    """A zappi status with ``lck`` 31 (bits 0..4 set)."""
    status = decode_zappi(fixture_bytes("status_zappi_old_firmware.json"))
    assert status.locks is not None and status.locks.raw == 31
    return status


# --- paths and the fields that show them done -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "path", "expected"),
    [
        (SetMode(ChargeMode.FAST), f"/cgi-zappi-mode-Z{Z}-1-0-0-0000", {"zmo": 1}),
        (SetMode(charge_mode("eco")), f"/cgi-zappi-mode-Z{Z}-2-0-0-0000", {"zmo": 2}),
        (SetMode(loose("ECO+")), f"/cgi-zappi-mode-Z{Z}-3-0-0-0000", {"zmo": 3}),
        (SetMode(ChargeMode.STOP), f"/cgi-zappi-mode-Z{Z}-4-0-0-0000", {"zmo": 4}),
        (ManualBoost(5), f"/cgi-zappi-mode-Z{Z}-0-10-5-0000", {"bsm": 1, "tbk": 5}),
        (
            SmartBoost(12, time(7, 45)),
            f"/cgi-zappi-mode-Z{Z}-0-11-12-0745",
            {"bss": 1, "sbh": 7, "sbm": 45, "sbk": 12},
        ),
        (StopBoost(), f"/cgi-zappi-mode-Z{Z}-0-2-0-0000", {"bsm": 0, "bss": 0}),
        (SetMinGreen(1), f"/cgi-set-min-green-Z{Z}-1", {"mgl": 1}),
        (SetMinGreen(100), f"/cgi-set-min-green-Z{Z}-100", {"mgl": 100}),
        (SetPriority(2), f"/cgi-set-priority-Z{Z}-2", {"pri": 2}),
        (
            SetPhases(PhaseSetting.SINGLE),
            f"/cgi-zappi-phase-setting-Z{Z}-0",
            {"phaseSetting": "SINGLE_PHASE"},
        ),
        (
            SetPhases(phase_setting("Three")),
            f"/cgi-zappi-phase-setting-Z{Z}-1",
            {"phaseSetting": "THREE_PHASE"},
        ),
        (
            SetPhases(PhaseSetting.AUTO),
            f"/cgi-zappi-phase-setting-Z{Z}-2",
            {"phaseSetting": "AUTO"},
        ),
    ],
)
def test_paths_and_expected_fields(
    before: ZappiStatus, command: Any, path: str, expected: dict[str, Any]
) -> None:
    assert command.path(Z, before) == path
    assert command.expected(before) == expected


def test_lock_changes_only_the_named_flags(before: ZappiStatus) -> None:
    command = SetLocks(LockFlags(lock_when_plugged=False, charge_session_allowed=False))
    # 31 = 0b11111; clearing bit 1 (plugged) and bit 4 (session allowed) leaves 0b01101 = 13
    assert command.path(Z, before) == f"/cgi-jlock-{Z}-00001101"
    assert command.expected(before) == {"lck": 13}
    assert command.arguments() == {"lock_when_plugged": False, "charge_session_allowed": False}


def test_lock_sets_a_flag_and_keeps_the_high_bits(before: ZappiStatus) -> None:
    high = decode_zappi(json.dumps({"zappi": [{**before.raw, "lck": 0b10100000}]}))
    command = SetLocks(LockFlags(locked_now=True))
    assert command.path(Z, high) == f"/cgi-jlock-{Z}-10100001"


def test_lock_without_a_known_state_needs_every_flag(before: ZappiStatus) -> None:
    raw = {k: v for k, v in before.raw.items() if k != "lck"}
    unknown = decode_zappi(json.dumps({"zappi": [raw]}))
    with pytest.raises(BadResponseError, match="name every lock flag"):
        SetLocks(LockFlags(locked_now=True)).path(Z, unknown)
    every = SetLocks(LockFlags(False, True, False, True, True))
    assert every.path(Z, unknown) == f"/cgi-jlock-{Z}-00011010"


def test_boost_timer_path_and_fields(before: ZappiStatus) -> None:
    timer = BoostTimer(12, time(23, 30), timedelta(hours=2, minutes=30), frozenset({"sat", "sun"}))
    command = SetBoostTimer(timer)
    assert command.path(Z, before) == f"/cgi-boost-time-Z{Z}-12-2330-230-00000011"
    assert command.expected(before) == {
        "slt": 12,
        "bsh": 23,
        "bsm": 30,
        "bdh": 2,
        "bdm": 30,
        "bdd": "00000011",
    }
    cleared = SetBoostTimer(BoostTimer.cleared(13))
    assert cleared.path(Z, before) == f"/cgi-boost-time-Z{Z}-13-0000-000-00000000"


# --- which commands interrupt a charge --------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "interrupts"),
    [
        (SetMode(ChargeMode.STOP), True),
        (SetMode(ChargeMode.ECO_PLUS), False),
        (StopBoost(), True),
        (ManualBoost(3), False),
        (SetLocks(LockFlags(locked_now=True)), True),
        (SetLocks(LockFlags(charge_session_allowed=False)), True),
        (SetLocks(LockFlags(charge_session_allowed=True, locked_now=False)), False),
        (SetMinGreen(50), False),
    ],
)
def test_interrupting_commands(command: Any, interrupts: bool) -> None:
    assert command.interrupts_charge is interrupts


def test_descriptions_and_arguments() -> None:
    assert SmartBoost(10, time(7, 30)).describe() == "smart boost of 10 kWh by 07:30"
    assert SmartBoost(10, time(7, 30)).arguments() == {"energy_kwh": 10, "ready_by": "07:30"}
    assert SetMode(ChargeMode.ECO_PLUS).arguments() == {"mode": "eco+"}
    assert SetBoostTimer(BoostTimer.cleared(14)).describe() == "clear boost timer 14"


# --- refusals before anything is sent ---------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SetMode(loose("turbo")), "fast, eco, eco\\+, stop"),
        (lambda: SetMode(loose(4)), "charge mode"),
        (lambda: ManualBoost(0), r"1\.\.99"),
        (lambda: ManualBoost(100), r"1\.\.99"),
        (lambda: ManualBoost(loose(True)), r"1\.\.99"),
        (lambda: ManualBoost(loose(2.5)), r"1\.\.99"),
        (lambda: SmartBoost(5, time(7, 10)), "quarter hours"),
        (lambda: SmartBoost(5, time(7, 15, 30)), "quarter hours"),
        (lambda: SmartBoost(0, time(7, 15)), r"1\.\.99"),
        (lambda: SmartBoost(5, loose("07:15")), "time of day"),
        (lambda: SetMinGreen(0), r"1\.\.100"),
        (lambda: SetMinGreen(101), r"1\.\.100"),
        (lambda: SetPriority(0), r"1\.\.9"),
        (lambda: SetPriority(10), r"1\.\.9"),
        (lambda: SetPhases(loose("two")), "single, three, auto"),
        (lambda: SetLocks(LockFlags()), "at least one lock flag"),
        (lambda: SetLocks(LockFlags(locked_now=loose(1))), "True, False or None"),
        (lambda: SetLocks(loose("00011111")), "LockFlags"),
        (lambda: SetBoostTimer(loose("11-0100-400-01111111")), "BoostTimer"),
    ],
)
def test_bad_arguments_are_refused_when_built(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(CommandArgumentError, match=message):
        build()


ALL_DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


@pytest.mark.parametrize(
    ("timer", "message"),
    [
        (BoostTimer(10, time(1), timedelta(hours=1), ALL_DAYS), "slot must be 11..14"),
        (BoostTimer(15, time(1), timedelta(hours=1), ALL_DAYS), "slot must be 11..14"),
        (BoostTimer(11, time(1, 10), timedelta(hours=1), ALL_DAYS), "quarter hour"),
        (BoostTimer(11, time(1), timedelta(minutes=50), ALL_DAYS), "quarter hours"),
        (BoostTimer(11, time(1), timedelta(hours=9), ALL_DAYS), r"0:00\.\.8:45"),
        (BoostTimer(11, time(1), timedelta(hours=-1), ALL_DAYS), r"0:00\.\.8:45"),
        (BoostTimer(11, time(1), timedelta(hours=1), frozenset()), "both a duration and days"),
        (BoostTimer(11, time(1), timedelta(0), ALL_DAYS), "both a duration and days"),
        (BoostTimer(11, time(1), timedelta(hours=1), frozenset({"funday"})), "unknown days"),
    ],
)
def test_bad_boost_timers_are_refused(timer: BoostTimer, message: str) -> None:
    with pytest.raises(CommandArgumentError, match=message):
        SetBoostTimer(timer)


@pytest.mark.parametrize(
    ("serial", "expected"),
    [(None, None), ("16000001", "16000001"), ("Z16000001", "16000001"), (16000001, "16000001")],
)
def test_serials(serial: Any, expected: str | None) -> None:
    assert check_serial(serial) == expected


@pytest.mark.parametrize("serial", ["", "Z", "16-01", "16000001/../x", "1" * 13, "١٢"])
def test_bad_serials(serial: str) -> None:
    with pytest.raises(CommandArgumentError, match="digits"):
        check_serial(serial)


# --- parsing the human forms ------------------------------------------------------------------


def test_parse_times_durations_and_days() -> None:
    assert parse_hhmm("7:30") == time(7, 30)
    assert parse_hhmm(" 23:45 ") == time(23, 45)
    assert parse_duration("2:30") == timedelta(hours=2, minutes=30)
    assert parse_days("mon-fri") == ALL_DAYS - {"sat", "sun"}
    assert parse_days("weekend,wed") == {"sat", "sun", "wed"}
    assert parse_days("Monday, tuesday") == {"mon", "tue"}
    assert parse_days("all") == ALL_DAYS
    assert parse_days("none") == frozenset()


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_hhmm, "24:00"),
        (parse_hhmm, "7h30"),
        (parse_hhmm, "07:60"),
        (parse_duration, "90"),
        (parse_duration, "1:75"),
        (parse_days, "fri-mon"),
        (parse_days, "someday"),
    ],
)
def test_bad_human_forms(parse: Callable[[str], Any], text: str) -> None:
    with pytest.raises(CommandArgumentError):
        parse(text)


# --- the boost timer table --------------------------------------------------------------------


def test_decode_boost_timers(fixture_bytes: Callable[[str], bytes]) -> None:
    payload = json.loads(fixture_bytes("boost_times.json"))
    timers = decode_boost_timers(payload, "cgi-boost-time-Z1")
    assert [t.as_dict() for t in timers] == [
        {
            "slot": 11,
            "start": "01:00",
            "duration": "4:00",
            "days": list(ALL_DAYS_ORDER),
            "active": True,
        },
        {"slot": 12, "start": "23:30", "duration": "2:30", "days": ["sat", "sun"], "active": True},
        {"slot": 13, "start": "00:00", "duration": "0:00", "days": [], "active": False},
        {
            "slot": 14,
            "start": "06:45",
            "duration": "1:15",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "active": True,
        },
    ]


ALL_DAYS_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.mark.parametrize(
    "payload",
    [
        {"status": 0},
        {"boost_times": [1]},
        {"boost_times": [{"slt": 11, "bsh": 1, "bsm": 0, "bdh": 4, "bdm": 0, "bdd": "0111"}]},
        {"boost_times": [{"slt": 11, "bsh": 25, "bsm": 0, "bdh": 4, "bdm": 0, "bdd": "01111111"}]},
        {"boost_times": [{"slt": 11, "bsh": "x", "bsm": 0, "bdh": 4, "bdm": 0, "bdd": "01111111"}]},
        {
            "boost_times": [
                {"slt": 11, "bsh": True, "bsm": 0, "bdh": 4, "bdm": 0, "bdd": "01111111"}
            ]
        },
    ],
)
def test_bad_boost_timer_tables(payload: dict[str, Any]) -> None:
    with pytest.raises(BadResponseError, match="cgi-boost-time-Z1"):
        decode_boost_timers(payload, "cgi-boost-time-Z1")


def test_answers_of_the_wrong_shape(before: ZappiStatus) -> None:
    with pytest.raises(BadResponseError, match="no 'status'"):
        SetMode(ChargeMode.ECO).check_answer({"statustext": ""}, "e")
    SetMinGreen(40).check_answer({"mgl": 40}, "e")
    SetMinGreen(40).check_answer({"mgl": "40"}, "e")
    SetMinGreen(40).check_answer({"status": 0}, "e")
    for answer in ({"mgl": 41}, {"mgl": True}, {"other": 1}):
        with pytest.raises(BadResponseError, match="confirms mgl"):
            SetMinGreen(40).check_answer(answer, "e")
    with pytest.raises(BadResponseError, match="neither"):
        SetBoostTimer(BoostTimer.cleared(11)).check_answer({"mgl": 1}, "e")
