"""DSMR telegrams: framing with positions, decoding with dsmr-parser, bad input counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from zapledger.exceptions import MeterError
from zapledger.meters import (
    IssueKind,
    RawTelegram,
    TelegramDecoder,
    TelegramFramer,
    TelegramReader,
    detect_version,
    format_capture,
    import_dsmr_file,
    require_version,
)
from zapledger.models import DsmrVersion, MeterReading
from zapledger.simulator.meterdata import MeterSample, dsmr5_telegram

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
KWH = 3_600_000


def _by_channel(readings: list[MeterReading]) -> dict[str, int]:
    return {r.channel: r.total_j for r in readings}


def test_dsmr5_file_gives_meter_time_and_exact_joules() -> None:
    got: list[MeterReading] = []
    stats = import_dsmr_file(FIXTURES / "dsmr_v5_three.txt", sink=got.extend)
    assert (stats.units, stats.accepted, stats.readings, stats.bad) == (3, 3, 12, 0)
    first = [r for r in got if r.timestamp == T0]
    assert _by_channel(first) == {
        "import_t1": 1234500 * 3600,
        "import_t2": 2345250 * 3600,
        "export_t1": 100 * KWH,
        "export_t2": 200 * KWH,
    }
    assert {r.meter_id for r in got} == {"K8EG004046395507"}  # hex id decoded
    assert {r.time_source for r in got} == {"meter"}
    assert {r.source for r in got} == {"dsmr"}
    assert sorted({r.timestamp for r in got}) == [T0 + timedelta(seconds=s) for s in (0, 10, 20)]
    assert stats.first == T0
    assert stats.last == T0 + timedelta(seconds=20)


def test_dsmr22_capture_uses_received_lines() -> None:
    got: list[MeterReading] = []
    stats = import_dsmr_file(FIXTURES / "dsmr_v22_kamstrup.txt", sink=got.extend)
    assert (stats.units, stats.accepted, stats.bad) == (3, 3, 0)
    assert {r.time_source for r in got} == {"receive"}
    assert sorted({r.timestamp for r in got}) == [T0 + timedelta(seconds=s) for s in (0, 10, 20)]
    assert _by_channel([r for r in got if r.timestamp == T0])["import_t1"] == 3707840 * 3600
    assert {r.meter_id for r in got} == {"KA6U001585575011"}


def test_dsmr22_plain_capture_needs_start_and_interval() -> None:
    stats = import_dsmr_file(FIXTURES / "dsmr_v22_plain.txt")
    assert stats.accepted == 0
    assert stats.issue_counts == {"no_time": 4}
    got: list[MeterReading] = []
    stats = import_dsmr_file(
        FIXTURES / "dsmr_v22_plain.txt",
        sink=got.extend,
        version=DsmrVersion.V2_2,
        start=T0,
        interval=timedelta(seconds=10),
        meter_id="kitchen",
    )
    assert stats.accepted == 4
    assert sorted({r.timestamp for r in got}) == [T0 + timedelta(seconds=10 * k) for k in range(4)]
    assert {r.meter_id for r in got} == {"kitchen"}


def _line_starts(data: bytes) -> list[int]:
    return [0, *(i + 1 for i, b in enumerate(data[:-1]) if b == ord("\n"))]


def test_bad_inputs_are_counted_with_positions_and_never_stored() -> None:
    path = FIXTURES / "dsmr_v5_bad_inputs.txt"
    data = path.read_bytes()
    starts = _line_starts(data)
    headers = [(n + 1, off) for n, off in enumerate(starts) if data[off : off + 1] == b"/"]
    got: list[MeterReading] = []
    stats = import_dsmr_file(path, sink=got.extend)
    by_kind = {i.kind: i for i in stats.issues}
    assert stats.issue_counts == {
        "crc": 2,  # a changed value, a missing CRC
        "truncated": 2,  # one cut by the next telegram, one by the end of the file
        "unknown_obis": 1,
        "garbage": 1,
        "parse": 1,
        "garbled": 1,
    }
    # telegrams in file order: 0 good, 1 bad CRC, 2 truncated, 3 unknown line, (garbage),
    # 4 bad value, 5 no CRC, 6 garbled, 7 good, 8 truncated at EOF
    crc_issues = [i for i in stats.issues if i.kind is IssueKind.CRC]
    assert [(i.line, i.byte) for i in crc_issues] == [headers[1], headers[5]]
    truncated = [i for i in stats.issues if i.kind is IssueKind.TRUNCATED]
    assert [(i.line, i.byte) for i in truncated] == [headers[2], headers[8]]
    unknown_line = next(
        n + 1 for n, off in enumerate(starts) if data[off:].startswith(b"1-0:99.99")
    )
    assert (by_kind[IssueKind.UNKNOWN_OBIS].line, by_kind[IssueKind.UNKNOWN_OBIS].byte) == (
        unknown_line,
        starts[unknown_line - 1],
    )
    assert "1-0:99.99.9" in by_kind[IssueKind.UNKNOWN_OBIS].message
    garbage_line = next(n + 1 for n, off in enumerate(starts) if data[off:].startswith(b"hello"))
    assert by_kind[IssueKind.GARBAGE].line == garbage_line
    assert (by_kind[IssueKind.PARSE].line, by_kind[IssueKind.PARSE].byte) == headers[4]
    assert (by_kind[IssueKind.GARBLED].line, by_kind[IssueKind.GARBLED].byte) == headers[6]
    # the good telegrams (first, the one with an unknown line, the one after the garbled one)
    # are used; nothing of the bad ones is
    assert stats.units == 9
    assert stats.accepted == 3
    assert sorted({r.timestamp for r in got}) == [T0 + timedelta(seconds=s) for s in (0, 30, 70)]
    assert str(crc_issues[0]).startswith(f"line {headers[1][0]}, byte {headers[1][1]}: crc:")


def test_feeding_byte_by_byte_frames_the_same() -> None:
    data = (FIXTURES / "dsmr_v5_bad_inputs.txt").read_bytes()
    whole = TelegramReader()
    whole.feed(data)
    whole.close()
    trickle = TelegramReader()
    for i in range(len(data)):
        trickle.feed(data[i : i + 1])
    trickle.close()
    assert trickle.stats.issues == whole.stats.issues
    assert trickle.stats.accepted == whole.stats.accepted == 3


def test_framer_receive_clock_and_directives() -> None:
    stamps = iter([T0 + timedelta(seconds=k) for k in range(3)])
    framer = TelegramFramer(clock=lambda: next(stamps))
    text = (FIXTURES / "dsmr_v5_three.txt").read_bytes()
    events = framer.feed(text)
    assert [e.received_at for e in events if isinstance(e, RawTelegram)][:2] == [
        T0,
        T0 + timedelta(seconds=1),
    ]
    framer = TelegramFramer(directives=True)
    events = framer.feed(b"# received yesterday\n# just a comment\n")
    assert len(events) == 1
    issue = events[0]
    assert not isinstance(issue, RawTelegram)
    assert (issue.kind, issue.line, issue.byte) == (IssueKind.BAD_DIRECTIVE, 1, 0)
    naive = framer.feed(b"# received 2026-01-15T11:00:00\n")
    assert naive and not isinstance(naive[0], RawTelegram)
    # a capture comment inside a telegram means the telegram was cut
    cut = framer.feed(b"/X\r\n\r\n1-0:1.8.1(1*kWh)\r\n# received 2026-01-15T11:00:00Z\n")
    assert [getattr(e, "kind", None) for e in cut] == [IssueKind.TRUNCATED]


def test_last_line_without_newline_is_used() -> None:
    text = (FIXTURES / "dsmr_v5_three.txt").read_bytes().rstrip(b"\r\n")
    reader = TelegramReader(DsmrVersion.V5)
    assert reader.feed(text) != []
    assert len(reader.close()) == 4
    assert reader.stats.accepted == 3


def test_line_ends_lost_in_a_file_still_check_the_crc() -> None:
    lf_only = (FIXTURES / "dsmr_v5_three.txt").read_bytes().replace(b"\r\n", b"\n")
    reader = TelegramReader()
    reader.feed(lf_only)
    assert reader.stats.accepted == 3


def test_detect_version() -> None:
    v5 = (FIXTURES / "dsmr_v5_three.txt").read_bytes().decode()
    assert detect_version(v5) is DsmrVersion.V5
    assert detect_version(v5.replace("0.2.8(50)", "0.2.8(42)")) is DsmrVersion.V4
    no_header = "/X\r\n\r\n1-0:1.8.1(1*kWh)\r\n!ABCD\r\n"
    assert detect_version(no_header) is DsmrVersion.V4
    assert detect_version((FIXTURES / "dsmr_v22_plain.txt").read_text()) is DsmrVersion.V2_2


def test_dsmr4_uses_the_v4_specification() -> None:
    v5 = (FIXTURES / "dsmr_v5_three.txt").read_bytes().decode()
    body = v5[: v5.index("!") + 1].replace("0.2.8(50)", "0.2.8(42)")
    from zapledger.simulator.meterdata import crc16

    reader = TelegramReader(None)
    got = reader.feed(f"{body}{crc16(body):04X}\r\n".encode())
    assert reader.decoder.version is DsmrVersion.V4
    assert len(got) == 4


def test_require_version() -> None:
    assert require_version("auto") is None
    assert require_version(None) is None
    assert require_version("2.2") is DsmrVersion.V2_2
    with pytest.raises(MeterError, match="unknown DSMR version"):
        require_version("6")


def _raw(text: str) -> RawTelegram:
    return RawTelegram(text, 1, 0, tuple(range(text.count("\r\n"))), 0, T0)


def test_telegram_without_totaliser_and_unit_in_wh() -> None:
    decoder = TelegramDecoder(DsmrVersion.V2_2)
    readings, issues = decoder.decode(_raw("/X\r\n\r\n0-0:96.14.0(0001)\r\n!\r\n"))
    assert readings == []
    assert [i.kind for i in issues] == [IssueKind.NO_TOTALISER]
    readings, issues = decoder.decode(
        _raw("/X\r\n\r\n1-0:1.8.1(0001500*Wh)\r\n1-0:1.8.2(12*MWh)\r\n!\r\n")
    )
    assert _by_channel(readings) == {"import_t1": 1500 * 3600}
    assert [i.kind for i in issues] == [IssueKind.PARSE]
    assert readings[0].meter_id == "p1"  # no equipment id in the telegram
    assert readings[0].time_source == "receive"


def test_meter_id_that_is_not_hex_text_is_kept() -> None:
    decoder = TelegramDecoder(DsmrVersion.V2_2)
    readings, _ = decoder.decode(
        _raw("/X\r\n\r\n0-0:96.1.1(00000000000000)\r\n1-0:1.8.1(1.000*kWh)\r\n!\r\n")
    )
    assert readings[0].meter_id == "00000000000000"


def _sample(ts: datetime, k: int) -> MeterSample:
    totals = dict.fromkeys(("import_t1", "import_t2", "pv", "ev"), (1000.0 + k * 0.01) * KWH)
    totals |= {"export_t1": 5.0 * KWH, "export_t2": 6.0 * KWH}
    return MeterSample(ts, "DST", totals, 600.0, 0.0, 1)


def test_dst_fall_back_meter_times_stay_in_order() -> None:
    """Europe/Amsterdam 2025-10-26 03:00 CEST -> 02:00 CET: the hour 02:xx comes twice."""
    start = datetime(2025, 10, 25, 23, 30, tzinfo=UTC)  # 01:30 CEST
    stamps = [start + timedelta(minutes=10 * k) for k in range(18)]  # to 02:20 UTC
    text = "".join(dsmr5_telegram(_sample(ts, k)) for k, ts in enumerate(stamps))
    assert "251026023000S" in text
    assert "251026023000W" in text
    reader = TelegramReader(DsmrVersion.V5)
    got = reader.feed(text.encode())
    times = sorted({r.timestamp for r in got})
    assert times == stamps
    assert reader.stats.bad == 0


def test_dst_spring_forward_skips_the_hour() -> None:
    start = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 01:30 CET
    stamps = [start + timedelta(minutes=15 * k) for k in range(6)]
    text = "".join(dsmr5_telegram(_sample(ts, k)) for k, ts in enumerate(stamps))
    assert "250330013000W" in text
    assert "250330030000S" in text  # 01:00 UTC is 03:00 CEST
    reader = TelegramReader(DsmrVersion.V5)
    assert sorted({r.timestamp for r in reader.feed(text.encode())}) == stamps


def test_capture_round_trip(tmp_path: Path) -> None:
    v22 = (FIXTURES / "dsmr_v22_plain.txt").read_bytes()
    capture = tmp_path / "capture.txt"
    stamps = iter([T0 + timedelta(seconds=k) for k in range(10)])
    with capture.open("w", encoding="ascii", newline="") as fh:
        reader = TelegramReader(DsmrVersion.V2_2, clock=lambda: next(stamps), capture=fh)
        reader.feed(v22)
    again: list[MeterReading] = []
    stats = import_dsmr_file(capture, sink=again.extend)
    assert stats.accepted == 4
    assert sorted({r.timestamp for r in again}) == [T0 + timedelta(seconds=k) for k in range(4)]
    assert format_capture("/X\r\n", T0) == "# received 2026-01-15T11:00:00Z\n/X\r\n"


def test_missing_file_is_a_meter_error(tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="cannot read"):
        import_dsmr_file(tmp_path / "nope.txt")


def test_kamstrup_telegram_with_a_gas_meter_has_no_unknown_lines() -> None:
    text = (
        "/KMP5 ZABF001587315111\r\n"
        "\r\n"
        "0-0:96.1.1(205C4D246333034353537383234323121)\r\n"
        "1-0:1.8.1(00185.000*kWh)\r\n"
        "1-0:1.8.2(00084.000*kWh)\r\n"
        "1-0:2.8.1(00013.000*kWh)\r\n"
        "1-0:2.8.2(00019.000*kWh)\r\n"
        "0-0:96.14.0(0001)\r\n"
        "1-0:1.7.0(0000.98*kW)\r\n"
        "1-0:2.7.0(0000.00*kW)\r\n"
        "0-0:17.0.0(999*A)\r\n"
        "0-0:96.3.10(1)\r\n"
        "0-0:96.13.1()\r\n"
        "0-0:96.13.0()\r\n"
        "0-1:24.1.0(3)\r\n"
        "0-1:96.1.0(3238313031353431303034303232323131)\r\n"
        "0-1:24.3.0(121030140000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n"
        "(00004.164)\r\n"
        "0-1:24.4.0(1)\r\n"
        "!\r\n"
    )
    readings, issues = TelegramDecoder(DsmrVersion.V2_2).decode(_raw(text))
    assert issues == []
    assert _by_channel(readings)["import_t1"] == 185 * KWH
