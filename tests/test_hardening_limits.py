"""Bounded reading: every reader stops at a documented limit, with exit 6, in bounded memory.

The endless-stream tests run the real command in a subprocess whose address space is capped
(RLIMIT_AS): a reader that buffered its input would die of MemoryError (exit 70) or be killed
instead of ending with exit 6 and a line naming the limit.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import pytest

from zapledger.cli import main
from zapledger.exceptions import BadResponseError, MeterError
from zapledger.meters import import_csv, import_dsmr_file
from zapledger.models import MAX_JSON_DEPTH, decode_json

#: Address space of the reader process: Python with its imports fits, a buffered stream does not.
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
#: The meter-file limit the endless-stream tests set (the default, 1 GiB, only takes longer).
FILE_LIMIT_BYTES = 4 * 1024 * 1024
ENDLESS = {
    # a CSV that never ends: valid rows, one after the other
    "csv": b"timestamp,pv_kwh\n" + b"2026-01-01T00:00:00Z,1.5\n" * 4096,
    # a DSMR telegram whose lines never end in '!'
    "dsmr": b"/ISK5\\2M550T-1012\n" + b"1-0:1.8.1(001234.567*kWh)\n" * 4096,
}
ZAPLEDGER = [sys.executable, "-c", "from zapledger.cli import run; run()"]


def _cap_memory() -> None:  # pragma: no cover - runs in the child process
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def _feeder(kind: str) -> subprocess.Popen[bytes]:
    """A process that writes ``ENDLESS[kind]``'s header once and its body forever (like yes)."""
    head, _, body = ENDLESS[kind].partition(b"\n")
    first = head + b"\n"
    code = (
        "import sys\nout = sys.stdout.buffer\n"
        f"out.write({first!r})\n"
        f"while True:\n    out.write({body!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "ZAPLEDGER_DB": f"sqlite:///{tmp_path / 'z.sqlite3'}",
        "ZAPLEDGER_TZ": "UTC",
        "ZAPLEDGER_MAX_FILE_BYTES": str(FILE_LIMIT_BYTES),
    }


def _run_capped(args: list[str], env: dict[str, str], feed: str | None) -> tuple[int, str, float]:
    feeder: subprocess.Popen[bytes] | None = None
    with ExitStack() as stack:
        stdin: IO[bytes] | int = subprocess.DEVNULL
        if feed == "zero":
            stdin = stack.enter_context(open("/dev/zero", "rb"))
        elif feed is not None:
            feeder = _feeder(feed)
            assert feeder.stdout is not None
            stdin = stack.enter_context(feeder.stdout)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [*ZAPLEDGER, *args],
                stdin=stdin,
                capture_output=True,
                text=True,
                env=env,
                preexec_fn=_cap_memory,
                timeout=120,
            )
        finally:
            if feeder is not None:
                feeder.kill()
                feeder.wait()
    return done.returncode, done.stderr, time.monotonic() - started


LIMIT = f"{FILE_LIMIT_BYTES:,} bytes"


@pytest.mark.parametrize(
    ("args", "feed", "limit"),
    [
        (["decode", "/dev/zero"], None, "16,777,216 bytes"),
        (["decode", "-"], "zero", "16,777,216 bytes"),
        (["meter", "import", "/dev/zero"], None, LIMIT),
        (["meter", "import", "--format", "csv", "/dev/zero"], None, LIMIT),
        (["meter", "import", "--format", "dsmr", "/dev/zero"], None, LIMIT),
        (["meter", "import", "--format", "csv", "/dev/stdin"], "csv", LIMIT),
        (["meter", "import", "--format", "dsmr", "/dev/stdin"], "dsmr", LIMIT),
    ],
    ids=["decode-zero", "decode-stdin", "meter-auto", "meter-csv", "meter-dsmr", "csv-rows",
         "dsmr-lines"],
)  # fmt: skip
def test_endless_stream_ends_with_exit_6_naming_the_limit(
    args: list[str], feed: str | None, limit: str, child_env: dict[str, str]
) -> None:
    code, err, elapsed_s = _run_capped(args, child_env, feed)
    assert code == 6, err
    assert f"limit of {limit}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert elapsed_s < 60


def test_decode_limit_is_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = tmp_path / "status.json"
    payload.write_bytes(b'{"zappi": []}' + b" " * 5000)
    assert main(["decode", str(payload), "--max-bytes", "4096"]) == 6
    assert "limit of 4,096 bytes" in capsys.readouterr().err


# --- JSON ---------------------------------------------------------------------------------------


def test_deep_nesting_is_refused_before_parsing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BadResponseError, match=f"deeper than the limit of {MAX_JSON_DEPTH}"):
        decode_json(deep, endpoint="cgi-jstatus-Z")
    with pytest.raises(BadResponseError, match="deeper"):
        decode_json(b"[" * 100_000, endpoint="cgi-jstatus-Z")  # unclosed: still no recursion


def test_brackets_inside_strings_do_not_count() -> None:
    text = b'{"a": "' + b"[" * 1000 + b'\\"[[["}'
    assert decode_json(text) == {"a": "[" * 1000 + '"[[['}


def test_nesting_up_to_the_limit_parses() -> None:
    depth = MAX_JSON_DEPTH
    assert decode_json(b"[" * depth + b"]" * depth) is not None


def test_deeply_nested_file_is_exit_6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"{" + b'"a":[' * 100_000 + b"]" * 100_000 + b"}")
    assert main(["decode", str(deep)]) == 6
    err = capsys.readouterr().err
    assert "deeper than the limit" in err and "Recursion" not in err


def test_oversized_cloud_payload_is_refused_by_size() -> None:
    body = b'{"zappi":[' + b'{"sno":1},' * 2_000_000 + b'{"sno":1}]}'
    started = time.monotonic()
    with pytest.raises(BadResponseError, match="over the limit of 16,777,216 bytes"):
        decode_json(body, endpoint="cgi-jstatus-Z")
    assert time.monotonic() - started < 1.0


# --- meter files: lines and rows -----------------------------------------------------------------


def test_csv_row_beyond_the_range_is_skipped_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "timestamp,pv_kwh\n"
        "2026-01-01T00:00:00Z,1.5\n"
        "2026-01-01T01:00:00Z,1e20\n"
        "0001-01-01T00:00:00,2.0\n"
        "9999-12-31T23:59:59,2.0\n"
        "99999999999999999999,2.0\n"
        "2026-01-01T02:00:00Z,1.75\n"
    )
    readings: list[object] = []
    stats = import_csv(path, sink=readings.extend, tz="Europe/Amsterdam")
    assert stats.accepted == 2 and len(readings) == 2
    assert [issue.line for issue in stats.issues] == [3, 4, 5, 6]
    assert "over the limit" in stats.issues[0].message
    assert "outside 2000-01-01 to 2099-12-31" in stats.issues[1].message


def test_overlong_csv_line_is_a_bad_row_not_a_memory_hog(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"timestamp,pv_kwh\n" + b"x" * 200_000 + b"\n" + b"2026-01-01T00:00:00Z,1.5\n")
    stats = import_csv(path)
    assert stats.accepted == 1
    assert stats.issues[0].line == 2 and "longer than 65,536 bytes" in stats.issues[0].message


def test_overlong_dsmr_line_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    good = (Path(__file__).parent / "fixtures" / "dsmr_v5_three.txt").read_bytes()
    path = tmp_path / "capture.txt"
    path.write_bytes(b"\x00" * 300_000 + b"\n" + good)
    stats = import_dsmr_file(path)
    assert stats.accepted == 3
    assert any("longer than 65,536 bytes" in issue.message for issue in stats.issues)


def test_file_over_the_limit_is_a_meter_error(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"timestamp,pv_kwh\n" + b"2026-01-01T00:00:00Z,1.5\n" * 1000)
    with pytest.raises(MeterError, match="limit of 2,048 bytes"):
        import_csv(path, max_bytes=2048)
    with pytest.raises(MeterError, match="limit of 2,048 bytes"):
        import_dsmr_file(path, max_bytes=2048)


def test_a_status_listing_absurdly_many_devices_is_refused() -> None:
    from zapledger.models import parse_status

    payload = {"zappi": [{"sno": 16000000 + i} for i in range(1000)]}
    with pytest.raises(BadResponseError, match="more than the limit of 256 devices"):
        parse_status(payload)
