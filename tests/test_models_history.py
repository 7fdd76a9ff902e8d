"""Decoding of per-minute and per-hour history: joules, UTC, duplicates, gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from zapledger.exceptions import BadResponseError
from zapledger.models import (
    History,
    Resolution,
    SiteStatus,
    decode_any,
    decode_history,
    joules_to_kwh,
    parse_history,
)

Read = Callable[[str], bytes]
DAY = (datetime(2021, 7, 25, tzinfo=UTC), datetime(2021, 7, 26, tzinfo=UTC))


def test_example_hour_record(fixture_bytes: Read) -> None:
    h = decode_history(fixture_bytes("jdayhour_example.json"), Resolution.HOUR)
    (r,) = h.records
    assert h.serial == "12345678"
    assert r.timestamp == datetime(2021, 7, 25, 6, 1, tzinfo=UTC)
    assert (r.import_j, r.export_j, r.generation_j, r.generation_negative_j) == (
        13285500,
        16560,
        2409600,
        480,
    )
    assert r.diverted_j == 14706420
    assert r.boosted_j == 123
    assert r.voltage_v == 244.6
    assert r.frequency_hz == 50.06


def test_omitted_keys_mean_zero_and_midnight() -> None:
    h = decode_history(b'{"U1": [{"yr": 2021, "mon": 7, "dom": 25}]}', Resolution.MINUTE)
    (r,) = h.records
    assert r.timestamp == datetime(2021, 7, 25, 0, 0, tzinfo=UTC)
    assert r.import_j == r.export_j == r.generation_j == r.diverted_j == r.boosted_j == 0


def test_absent_voltage_is_none_not_zero() -> None:
    (r,) = decode_history(b'{"U1": [{"yr": 2021, "mon": 7, "dom": 25}]}', Resolution.HOUR).records
    assert r.voltage_v is None
    assert r.frequency_hz is None
    assert not r.voltage_suspect


def test_kwh_and_mean_power_helpers() -> None:
    (r,) = decode_history(
        b'{"U1": [{"yr": 2021, "mon": 7, "dom": 25, "imp": 3600000}]}', Resolution.HOUR
    ).records
    assert joules_to_kwh(r.import_j) == 1.0
    assert r.mean_power_w(r.import_j) == 1000.0
    (m,) = decode_history(
        b'{"U1": [{"yr": 2021, "mon": 7, "dom": 25, "imp": 60000}]}', Resolution.MINUTE
    ).records
    assert m.mean_power_w(m.import_j) == 1000.0


def test_per_phase_divert_and_boost_summed() -> None:
    payload = {"U1": [{"yr": 2021, "mon": 7, "dom": 25, "h1d": 1, "h2d": 2, "h3d": 4,
                       "h1b": 10, "h2b": 20, "h3b": 40}]}  # fmt: skip
    (r,) = parse_history(payload, Resolution.HOUR).records
    assert (r.diverted_j, r.boosted_j) == (7, 70)
    d = r.as_dict()
    assert d["diverted_h3_j"] == 4
    assert d["boosted_j"] == 70


def test_1441_record_day_drops_next_days_midnight(fixture_bytes: Read) -> None:
    h = decode_history(fixture_bytes("jday_1441_records.json"), Resolution.MINUTE, window=DAY)
    assert len(h.records) == 1440
    assert h.outside_window == 1
    assert h.records[-1].timestamp == datetime(2021, 7, 25, 23, 59, tzinfo=UTC)
    assert h.gaps == ()


def test_duplicates_are_removed() -> None:
    rec = {"yr": 2021, "mon": 7, "dom": 25, "min": 5, "imp": 1}
    h = parse_history({"U1": [rec, dict(rec, imp=2), {"yr": 2021, "mon": 7, "dom": 25}]},
                      Resolution.MINUTE)  # fmt: skip
    assert len(h.records) == 2
    assert h.duplicates_dropped == 1
    assert [r.timestamp.minute for r in h.records] == [0, 5]


def test_missing_minutes_are_reported_as_gaps(fixture_bytes: Read) -> None:
    window = (datetime(2021, 7, 26, tzinfo=UTC), datetime(2021, 7, 27, tzinfo=UTC))
    h = decode_history(fixture_bytes("jday_missing_minutes.json"), Resolution.MINUTE, window=window)
    assert [(g.start.hour, g.start.minute, g.missing) for g in h.gaps] == [(10, 0, 3), (15, 0, 60)]
    assert h.missing == 63
    assert len(h.records) == 1440 - 63


def test_garbage_voltage_near_gaps_is_flagged(fixture_bytes: Read) -> None:
    h = decode_history(fixture_bytes("jday_missing_minutes.json"), Resolution.MINUTE)
    suspects = [r.timestamp.strftime("%H:%M") for r in h.records if r.voltage_suspect]
    assert suspects == ["09:59", "10:03", "14:59", "16:00"]
    assert h.suspect == 4


def test_window_reports_leading_and_trailing_gaps() -> None:
    h = parse_history(
        {"U1": [{"yr": 2021, "mon": 7, "dom": 25, "hr": 5}]},
        Resolution.HOUR,
        window=DAY,
    )
    assert [(g.start.hour, g.missing) for g in h.gaps] == [(0, 5), (6, 18)]


def test_spring_forward_local_day_has_23_hours(fixture_bytes: Read) -> None:
    start = datetime(2021, 3, 28, tzinfo=UTC)
    h = decode_history(
        fixture_bytes("jdayhour_2021-03-28_london_spring_forward.json"),
        Resolution.HOUR,
        window=(start, start + timedelta(hours=23)),
    )
    assert len(h.records) == 23
    assert h.gaps == ()


def test_fall_back_local_day_has_25_hours(fixture_bytes: Read) -> None:
    start = datetime(2021, 10, 30, 23, tzinfo=UTC)
    h = decode_history(
        fixture_bytes("jdayhour_2021-10-31_london_fall_back.json"),
        Resolution.HOUR,
        window=(start, start + timedelta(hours=25)),
    )
    assert len(h.records) == 25
    assert h.records[0].timestamp == start


def test_empty_day_is_all_gap(fixture_bytes: Read) -> None:
    h = decode_history(fixture_bytes("jdayhour_empty.json"), Resolution.HOUR, window=DAY)
    assert h.records == ()
    assert h.missing == 24


def test_truncated_json_names_the_endpoint(fixture_bytes: Read) -> None:
    with pytest.raises(BadResponseError, match="cgi-jday-Z12345678-2021-7-25") as info:
        decode_history(
            fixture_bytes("truncated_jday.json"),
            Resolution.MINUTE,
            endpoint="cgi-jday-Z12345678-2021-7-25",
        )
    assert info.value.endpoint == "cgi-jday-Z12345678-2021-7-25"


def test_html_page_is_a_bad_response(fixture_bytes: Read) -> None:
    with pytest.raises(BadResponseError, match="HTML"):
        decode_history(fixture_bytes("error_page_502.html"), Resolution.HOUR)


@pytest.mark.parametrize(
    "payload",
    [
        {"U1": [{"yr": 2021, "mon": 13, "dom": 1}]},
        {"U1": [{"yr": 2021, "mon": 1}]},
        {"U1": [{"yr": 2021, "mon": 1, "dom": 1, "imp": "12"}]},
        {"U1": {}},
        {"X1": []},
        {"U1": [], "U2": []},
    ],
)
def test_wrong_history_shapes_are_bad_responses(payload: object) -> None:
    with pytest.raises(BadResponseError):
        decode_history(json.dumps(payload), Resolution.MINUTE)
    with pytest.raises(BadResponseError):
        parse_history(payload, Resolution.MINUTE)


def test_parse_history_rejects_non_objects() -> None:
    with pytest.raises(BadResponseError):
        parse_history([1], Resolution.HOUR)


@pytest.mark.parametrize(
    ("name", "kind", "resolution"),
    [
        ("status_zappi_example.json", SiteStatus, None),
        ("jdayhour_example.json", History, Resolution.HOUR),
        ("jday_1441_records.json", History, Resolution.MINUTE),
        ("saved-cgi-jdayhour-Z1.json", History, Resolution.HOUR),
        ("saved-cgi-jday-Z1.json", History, Resolution.MINUTE),
    ],
)
def test_decode_any_recognises_payloads(
    fixture_bytes: Read, name: str, kind: type, resolution: Resolution | None
) -> None:
    source = {"saved-cgi-jdayhour-Z1.json": "jdayhour_example.json",
              "saved-cgi-jday-Z1.json": "jdayhour_example.json"}.get(name, name)  # fmt: skip
    decoded = decode_any(fixture_bytes(source), name=name)
    assert isinstance(decoded, kind)
    if isinstance(decoded, History):
        assert decoded.resolution is resolution


def test_decode_any_bad_history_names_the_file() -> None:
    with pytest.raises(BadResponseError, match=r"f\.json"):
        decode_any(b'{"U1": [{"yr": "x"}]}', name="f.json")
