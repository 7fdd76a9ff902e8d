"""Status and command endpoints of the simulated cloud."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from zapledger.simulator import Household, Simulator

HUB, KEY, ZAPPI = "10088888", "sim-api-key", "16000001"
NOW = datetime(2024, 6, 15, 12, 30, 20, tzinfo=UTC)

ZAPPI_MD_FIELDS = {
    "batteryDischargeEnabled", "beingTamperedWith", "bsm", "bss", "bst", "che", "cmt", "dat",
    "dst", "ectp1", "ectp2", "ectp3", "ectp4", "ectt1", "ectt2", "ectt3", "ectt4", "ectt5",
    "ectt6", "frq", "fwv", "g100LockoutState", "gen", "grd", "lck", "mgl", "newAppAvailable",
    "newBootloaderAvailable", "pha", "pri", "pst", "pwm", "rac", "rdc", "rrac", "sbh", "sbk",
    "sno", "sta", "tbk", "tim", "tz", "vol", "zmo", "zs", "zsh", "zsl",
    "deviceClass", "productCode", "isVHubEnabled", "phaseSetting",
}  # fmt: skip


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), timeout=5) as c:
        yield c


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=1, now=NOW) as s:
        yield s


def _get(sim: Simulator, client: httpx.Client, path: str) -> Any:
    r = client.get(f"{sim.asn_url}{path}")
    assert r.status_code == 200, r.text
    return r.json()


def _zappi(sim: Simulator, client: httpx.Client, serial: str = ZAPPI) -> dict[str, Any]:
    payload = _get(sim, client, f"/cgi-jstatus-Z{serial}")
    (status,) = payload["zappi"]
    assert isinstance(status, dict)
    return status


def _charging_minute(predicate: Any) -> datetime:
    """A minute of seed 1 in which the car charges and ``predicate(EvState)`` holds."""
    hh = Household(1)
    day = date(2024, 6, 1)
    while day < date(2024, 9, 1):
        for session in hh.ev_sessions(day):
            ts = session.start
            while ts < session.end:
                state = hh.ev_state(ts)
                if state.power_w > 0 and predicate(state):
                    return ts + timedelta(seconds=20)
                ts += timedelta(minutes=7)
        day += timedelta(days=1)
    raise AssertionError("no such minute")


def test_all_devices_status_is_the_list_form(sim: Simulator, client: httpx.Client) -> None:
    payload = _get(sim, client, "/cgi-jstatus-*")
    assert isinstance(payload, list)
    merged = {k: v for part in payload for k, v in part.items()}
    assert set(merged) == {"eddi", "zappi", "harvi", "libbi", "asn", "fwv", "vhub"}
    assert merged["asn"] == sim.asn
    assert merged["eddi"] == [] and merged["libbi"] == []
    assert merged["zappi"][0]["sno"] == int(ZAPPI)
    assert merged["harvi"][0]["ectt1"] == "Generation"


def test_zappi_status_has_every_documented_field(sim: Simulator, client: httpx.Client) -> None:
    st = _zappi(sim, client)
    assert set(st) >= ZAPPI_MD_FIELDS - {"div", "sbm"}
    assert isinstance(st["vol"], int) and 2000 < st["vol"] < 2600
    assert isinstance(st["frq"], float) and 49.5 < st["frq"] < 50.5
    assert st["dat"] == "15-06-2024" and st["tim"] == "12:30:20"
    assert re.fullmatch(r"\d\d-\d\d-\d{4}", st["dat"])
    assert st["zs"] == st["zsh"] * 256 + st["zsl"]
    assert st["deviceClass"] == "ZAPPI" and st["productCode"] == "3562"
    assert st["isVHubEnabled"] is True and st["phaseSetting"] == "SINGLE_PHASE"
    assert st["dst"] == 1 and st["cmt"] == 254


def test_status_is_consistent_with_the_minute_history(client: httpx.Client) -> None:
    now = _charging_minute(lambda s: not s.boosting)
    with Simulator(now=now) as sim:
        st = _zappi(sim, client)
        truth = sim.household.minute(now)
        assert st["grd"] == round((truth["imp"] - truth["exp"]) / 60)
        assert st["gen"] == round((truth["gep"] - truth["gen"]) / 60)
        assert st["div"] == round((truth["h1d"] + truth["h1b"]) / 60) == st["ectp1"]
        assert st["vol"] == truth["v1"]
        assert (st["pst"], st["sta"]) == ("C2", 3)
        state = sim.household.ev_state(now)
        assert st["che"] == round(state.session_energy_j / 3_600_000, 2)
        assert state.session is not None
        assert st["zmo"] == state.session.mode
        assert 0 < st["pwm"] < 10000


def test_boosting_shows_status_4_and_the_timer_flag(client: httpx.Client) -> None:
    now = _charging_minute(lambda s: s.timed_boost)
    with Simulator(now=now) as sim:
        st = _zappi(sim, client)
        assert (st["pst"], st["sta"], st["bst"]) == ("C2", 4, 1)


def test_div_and_sbm_are_omitted_when_zero(sim: Simulator, client: httpx.Client) -> None:
    st = _zappi(sim, client)
    assert sim.household.ev_state(NOW).power_w == 0
    assert "div" not in st
    assert "sbm" not in st and "sbh" in st and "sbk" in st


def _command(sim: Simulator, client: httpx.Client, path: str) -> Any:
    return _get(sim, client, path)


@pytest.mark.parametrize(
    ("path", "answer", "changes"),
    [
        (f"/cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000", "ok", {"zmo": 1}),
        (f"/cgi-zappi-mode-Z{ZAPPI}-4-0-0-0000", "ok", {"zmo": 4}),
        (f"/cgi-zappi-mode-Z{ZAPPI}-0-10-15-0000", "ok", {"bsm": 1, "tbk": 15}),
        (
            f"/cgi-zappi-mode-Z{ZAPPI}-0-11-12-0745",
            "ok",
            {"bss": 1, "sbh": 7, "sbm": 45, "sbk": 12},
        ),
        (f"/cgi-set-min-green-Z{ZAPPI}-50", {"mgl": 50}, {"mgl": 50}),
        (f"/cgi-set-priority-Z{ZAPPI}-2", "ok", {"pri": 2}),
        (f"/cgi-zappi-phase-setting-Z{ZAPPI}-1", "ok", {"phaseSetting": "THREE_PHASE"}),
        (f"/cgi-jlock-{ZAPPI}-00011111", "ok", {"lck": 31}),
    ],
)
def test_command_changes_status_and_cmt_counts(
    sim: Simulator, client: httpx.Client, path: str, answer: Any, changes: dict[str, Any]
) -> None:
    reply = _command(sim, client, path)
    if answer == "ok":
        assert reply["status"] == 0 and reply["statustext"] == ""
    else:
        assert reply == answer
    reads = [_zappi(sim, client) for _ in range(3)]
    assert [r["cmt"] for r in reads] == [1, 5, 254]
    for key, value in changes.items():
        assert reads[-1][key] == value


def _until_done(sim: Simulator, client: httpx.Client) -> dict[str, Any]:
    """Status reads until the command timer shows the last command done (bounded)."""
    for _ in range(5):
        st = _zappi(sim, client)
        if st["cmt"] >= 253:
            return st
    raise AssertionError("cmt never left the in-flight range")


def test_stop_boost_clears_boost_flags(sim: Simulator, client: httpx.Client) -> None:
    _command(sim, client, f"/cgi-zappi-mode-Z{ZAPPI}-0-10-5-0000")
    assert _until_done(sim, client)["bsm"] == 1
    assert _command(sim, client, f"/cgi-zappi-mode-Z{ZAPPI}-0-2-0-0000")["status"] == 0
    st = _until_done(sim, client)
    assert (st["bsm"], st["bss"]) == (0, 0)


def test_mode_command_answer_carries_the_asn(sim: Simulator, client: httpx.Client) -> None:
    reply = _command(sim, client, f"/cgi-zappi-mode-Z{ZAPPI}-2-0-0-0000")
    assert reply == {"status": 0, "statustext": "", "asn": sim.asn}


@pytest.mark.parametrize(
    "path",
    [
        f"/cgi-zappi-mode-Z{ZAPPI}-5-0-0-0000",
        f"/cgi-zappi-mode-Z{ZAPPI}-1-10-0-0000",
        f"/cgi-zappi-mode-Z{ZAPPI}-0-11-5-0710",
        f"/cgi-zappi-mode-Z{ZAPPI}-0-11-5-2500",
        f"/cgi-zappi-mode-Z{ZAPPI}-0-10-0-0000",
        f"/cgi-zappi-mode-Z{ZAPPI}-0-7-0-0000",
        f"/cgi-zappi-mode-Z{ZAPPI}-fast",
        f"/cgi-zappi-mode-Z{ZAPPI}",
        f"/cgi-set-min-green-Z{ZAPPI}-101",
        f"/cgi-set-min-green-Z{ZAPPI}-x",
        f"/cgi-set-priority-Z{ZAPPI}-0",
        f"/cgi-zappi-phase-setting-Z{ZAPPI}-3",
        f"/cgi-jlock-{ZAPPI}-0001",
        f"/cgi-jlock-{ZAPPI}-0000000x",
        f"/cgi-boost-time-Z{ZAPPI}-15-0100-0300-01111111",
        f"/cgi-boost-time-Z{ZAPPI}-11-0110-0300-01111111",
        f"/cgi-boost-time-Z{ZAPPI}-11-0100-0900-01111111",
        f"/cgi-boost-time-Z{ZAPPI}-11-0100",
    ],
)
def test_bad_command_parameter_gives_minus_14_as_string(
    sim: Simulator, client: httpx.Client, path: str
) -> None:
    assert _command(sim, client, path) == {"status": "-14", "statustext": ""}
    assert _zappi(sim, client)["cmt"] == 254


@pytest.mark.parametrize(
    "path",
    [
        "/cgi-zappi-mode-Z99999999-1-0-0-0000",
        "/cgi-set-min-green-Z99999999-50",
        f"/cgi-jlock-Z{ZAPPI}-00000010",
        "/cgi-jstatus-Z99999999",
        "/cgi-jstatus-H99999999",
        "/cgi-jstatus-E99999999",
    ],
)
def test_unknown_serial_gives_minus_13(sim: Simulator, client: httpx.Client, path: str) -> None:
    assert _command(sim, client, path) == {"status": "-13", "statustext": ""}


def test_boost_times_read_and_write(sim: Simulator, client: httpx.Client) -> None:
    before = _get(sim, client, f"/cgi-boost-time-Z{ZAPPI}")
    assert [slot["slt"] for slot in before["boost_times"]] == [11, 12, 13, 14]
    after = _get(sim, client, f"/cgi-boost-time-Z{ZAPPI}-12-2330-230-00000011")
    slot12 = after["boost_times"][1]
    assert slot12 == {"bdd": "00000011", "bdh": 2, "bdm": 30, "bsh": 23, "bsm": 30, "slt": 12}
    assert _zappi(sim, client)["cmt"] == 1


def test_status_of_several_zappis_and_other_families(client: httpx.Client) -> None:
    with Simulator(now=NOW, zappi_serials=("16000001", "16000002")) as sim:
        zappis = _get(sim, client, "/cgi-jstatus-Z")["zappi"]
        assert [z["sno"] for z in zappis] == [16000001, 16000002]
        assert [z["isVHubEnabled"] for z in zappis] == [True, False]
        assert _zappi(sim, client, "16000002")["che"] == 0.0
        assert _get(sim, client, "/cgi-jstatus-E") == {"eddi": []}
        assert _get(sim, client, "/cgi-jstatus-L") == {"libbi": []}
        assert _get(sim, client, "/cgi-jstatus-H")["harvi"][0]["sno"] == 11000001
        assert _get(sim, client, "/cgi-jstatus-H11000001")["harvi"][0]["sno"] == 11000001
        assert client.get(f"{sim.asn_url}/cgi-jstatus-X").status_code == 404
        assert client.get(f"{sim.asn_url}/cgi-jstatus-").status_code == 404


def test_app_key_names_the_devices(sim: Simulator, client: httpx.Client) -> None:
    payload = _get(sim, client, "/cgi-get-app-key-")
    assert payload == {
        HUB: [
            {"key": "siteName", "val": "Home"},
            {"key": f"Z{ZAPPI}", "val": "Drive"},
            {"key": "H11000001", "val": "PV"},
        ]
    }


def test_status_order_varies_but_is_deterministic(client: httpx.Client) -> None:
    orders = []
    for minute in range(6):
        with Simulator(now=NOW + timedelta(minutes=minute)) as sim:
            payload = _get(sim, client, "/cgi-jstatus-*")
            orders.append(tuple(next(iter(part)) for part in payload))
    assert len(set(orders)) > 1


def test_clock_can_be_frozen_moved_or_followed(client: httpx.Client) -> None:
    with Simulator(now=NOW) as sim:
        assert sim.advance(60) == NOW + timedelta(minutes=1)
        assert _zappi(sim, client)["tim"] == "12:31:20"
        sim.set_now(lambda: NOW + timedelta(hours=1))
        assert _zappi(sim, client)["tim"] == "13:30:20"
        with pytest.raises(RuntimeError):
            sim.advance(1)
        with pytest.raises(ValueError, match="aware"):
            sim.set_now(datetime(2024, 1, 1))
        sim.set_now(None)
        assert abs(sim.now() - datetime.now(UTC)) < timedelta(seconds=5)
