"""Decoding of the live status: every ZAPPI.md field with its unit and meaning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from zapledger.exceptions import BadResponseError
from zapledger.models import (
    ChargeStatus,
    CommandState,
    PlugStatus,
    ZappiMode,
    decode_status,
    decode_zappi,
    parse_zappi,
)

Read = Callable[[str], bytes]


def test_example_payload_units(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_example.json"))
    assert z.serial == "12345678"
    assert z.voltage_v == 223.1
    assert z.frequency_hz == 49.99
    assert z.current_limit_a == 24.6
    assert z.mode is ZappiMode.FAST
    assert z.charge_status is ChargeStatus.CHARGING
    assert z.plug_status is PlugStatus.CHARGING
    assert str(z.plug_status) == "C2"
    assert z.timestamp == datetime(2021, 7, 25, 6, 30, 31, tzinfo=UTC)


def test_example_payload_powers_and_energy(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_example.json"))
    assert z.charge_power_w == 5312
    assert z.grid_power_w == 4965
    assert z.generation_power_w == 552
    assert z.charge_added_kwh == 2.04
    assert z.min_green_level_pct == 10
    assert z.phases == 1
    assert z.priority == 1
    assert z.firmware == "3560S5.039"


def test_lock_bits_are_named(fixture_bytes: Read) -> None:
    locks = decode_zappi(fixture_bytes("status_zappi_example.json")).locks
    assert locks is not None
    assert locks.raw == 31
    assert locks.locked_now and locks.lock_when_plugged and locks.lock_when_unplugged
    assert locks.lock_when_charging and locks.charge_session_allowed


@pytest.mark.parametrize(
    ("lck", "expected"),
    [(0, (False, False, False, False, False)), (16, (False, False, False, False, True)),
     (5, (True, False, True, False, False))],
)  # fmt: skip
def test_lock_bits_individually(lck: int, expected: tuple[bool, ...]) -> None:
    locks = parse_zappi({"sno": 1, "lck": lck}).locks
    assert locks is not None
    assert (
        locks.locked_now,
        locks.lock_when_plugged,
        locks.lock_when_unplugged,
        locks.lock_when_charging,
        locks.charge_session_allowed,
    ) == expected


def test_ct_clamps_skip_unused(fixture_bytes: Read) -> None:
    clamps = decode_zappi(fixture_bytes("status_zappi_example.json")).ct_clamps
    assert [(c.index, c.name, c.power_w) for c in clamps] == [
        (1, "Internal Load", 5312),
        (2, "Grid", 4924),
    ]


def test_boost_and_smart_boost(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_example.json"))
    assert z.manual_boost_active is True
    assert z.smart_boost_active is False
    assert z.timed_boost_active is False
    assert z.manual_boost_kwh == 20
    assert z.smart_boost is not None
    assert (z.smart_boost.hour, z.smart_boost.minute, z.smart_boost.energy_kwh) == (17, 10, 5)


def test_command_timer_states() -> None:
    assert CommandState.from_cmt(254) is CommandState.OK
    assert CommandState.from_cmt(253) is CommandState.FAILED
    assert CommandState.from_cmt(255) is CommandState.NONE
    assert CommandState.from_cmt(3) is CommandState.IN_PROGRESS
    assert CommandState.from_cmt(100) is CommandState.UNKNOWN
    assert CommandState.from_cmt(None) is None


def test_unknown_meaning_fields_kept_raw(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_example.json"))
    assert (z.zs_raw, z.zsh_raw, z.zsl_raw) == (3078, 12, 6)
    assert (z.residual_ac_raw, z.residual_dc_raw, z.rrac_raw) == (4, -4, -8)
    assert z.g100_lockout_state_raw == "NONE"
    assert z.battery_discharge_enabled_raw is False
    assert z.daylight_saving is True
    assert z.timezone_raw == 3
    assert z.raw["sno"] == 12345678


def test_old_firmware_float_volts_and_missing_div(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_old_firmware.json"))
    assert z.voltage_v == 229.8
    assert z.charge_power_w == 0.0
    assert z.mode is ZappiMode.ECO_PLUS
    assert z.plug_status is PlugStatus.WAITING_FOR_EV
    assert z.charge_status is ChargeStatus.PAUSED


def test_2024_firmware_fields(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_zappi_2024_firmware.json"))
    assert z.device_class == "ZAPPI"
    assert z.product_code == "3562"
    assert z.is_vhub_enabled is True
    assert z.phase_setting == "SINGLE_PHASE"
    assert z.smart_boost is not None
    assert z.smart_boost.minute is None
    assert z.smart_boost.hour == 17


def test_unknown_enum_values_are_kept_not_fatal(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_unknown_enums.json"))
    assert z.mode is not None and not z.mode.known and int(z.mode) == 9
    assert z.charge_status is not None and not z.charge_status.known
    assert z.plug_status is not None and not z.plug_status.known and z.plug_status == "X9"
    assert z.command_state is CommandState.UNKNOWN
    d = z.as_dict()
    assert d["mode"] == "unknown_9"
    assert d["plug_status"] == "X9"


def test_unknown_new_keys_kept_in_extra(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_unknown_enums.json"))
    assert z.extra == {"someNewKey": {"nested": [1, 2]}, "futureFlag": True}


def test_missing_keys_are_none(fixture_bytes: Read) -> None:
    z = decode_zappi(fixture_bytes("status_missing_keys.json"))
    assert z.timestamp is None
    assert z.voltage_v is None
    assert z.locks is None
    assert z.ct_clamps == ()
    assert z.mode is ZappiMode.ECO
    assert z.plug_status is PlugStatus.EV_DISCONNECTED


def test_all_devices_response(fixture_bytes: Read) -> None:
    site = decode_status(fixture_bytes("status_all_devices.json"))
    assert site.asn == "s18.myenergi.net"
    assert site.hub_firmware == "3401S5.039"
    assert [z.serial for z in site.zappis] == ["12345678"]
    assert [(d.device_type, d.serial) for d in site.others] == [
        ("eddi", "21509692"),
        ("harvi", "10176356"),
    ]
    assert site.others[0].raw["hno"] == 1


def test_empty_device_lists(fixture_bytes: Read) -> None:
    site = decode_status(fixture_bytes("status_empty_families.json"))
    assert site.zappis == ()
    assert site.others == ()
    with pytest.raises(BadResponseError, match="no zappi"):
        site.zappi()


def test_two_zappis_pick_by_serial(fixture_bytes: Read) -> None:
    site = decode_status(fixture_bytes("status_two_zappis.json"))
    assert site.zappi("12345679").mode is ZappiMode.ECO
    assert site.zappi().serial == "12345678"
    with pytest.raises(BadResponseError, match="999 is not in the status"):
        site.zappi("999")


def test_as_dict_has_the_documented_keys(fixture_bytes: Read) -> None:
    d = decode_zappi(fixture_bytes("status_zappi_example.json")).as_dict()
    for key in (
        "serial", "timestamp", "mode", "charge_status", "plug_status", "voltage_v",
        "frequency_hz", "grid_power_w", "generation_power_w", "charge_power_w",
        "charge_added_kwh", "current_limit_a", "min_green_level_pct", "locks", "ct_clamps",
    ):  # fmt: skip
        assert key in d
    assert d["timestamp"] == "2021-07-25T06:30:31Z"
    assert d["mode"] == "fast"
    assert d["charge_status"] == "charging"


def test_html_error_page_is_a_bad_response(fixture_bytes: Read) -> None:
    with pytest.raises(BadResponseError, match="HTML page") as info:
        decode_status(fixture_bytes("error_page_502.html"), endpoint="cgi-jstatus-Z1")
    assert info.value.endpoint == "cgi-jstatus-Z1"


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"[1, 2]",
        b'{"zappi": {}}',
        b'{"zappi": [{"zmo": 1}]}',
        b'{"zappi": [{"sno": 1, "vol": "high"}]}',
        b'{"zappi": [{"sno": 1, "dat": "99-99-2021", "tim": "00:00:00"}]}',
        b'{"zappi": [{"sno": 1, "zmo": 1.5}]}',
        b'{"zappi": [{"sno": 1, "bsm": "yes"}]}',
        b'{"nothing": 1}',
        b'"text"',
        b'[{"eddi": [{"div": 1}]}]',
    ],
)
def test_wrong_shapes_are_bad_responses(payload: bytes) -> None:
    with pytest.raises(BadResponseError):
        decode_status(payload)
