"""Fault injection, latency, statistics and the foreground runner of the simulated cloud."""

from __future__ import annotations

import json
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from zapledger.simulator import (
    FAULT_KINDS,
    Answer,
    AsnHeader,
    Faults,
    Simulator,
    main,
    serve_forever,
)

HUB, KEY, ZAPPI = "10088888", "sim-api-key", "16000001"
NOW = datetime(2024, 6, 15, 12, 30, 20, tzinfo=UTC)
DAY_PATH = f"/cgi-jdayhour-Z{ZAPPI}-2024-6-10"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(now=NOW, faults=Faults(timeout_s=0.5, retry_after_s=3)) as s:
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), timeout=5) as c:
        yield c


def _warm(sim: Simulator, client: httpx.Client) -> None:
    """One authenticated round trip, so later requests carry the digest header up front."""
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 200


def test_parse_full_spec() -> None:
    f = Faults.parse(
        "500=0.05, 429=0.02,timeout=0.01,html=0.02,truncated=0.02,asn-change=200,503=0.01,"
        "401=0.001,retry-after=2,timeout-s=7.5"
    )
    assert (f.p500, f.p429, f.p_timeout, f.p_html, f.p_truncated) == (0.05, 0.02, 0.01, 0.02, 0.02)
    assert (f.p503, f.p401, f.asn_change_every) == (0.01, 0.001, 200)
    assert (f.retry_after_s, f.timeout_s) == (2, 7.5)
    assert Faults.parse(f.spec()) == f
    assert f.active


@pytest.mark.parametrize("spec", ["", "none", None, " off "])
def test_parse_empty_spec_means_no_faults(spec: str | None) -> None:
    assert Faults.parse(spec) == Faults()
    assert not Faults().active
    assert Faults().spec() == "none"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("404=0.1", "unknown fault '404'"),
        ("500", "not KEY=VALUE"),
        ("500=", "not KEY=VALUE"),
        ("500=lots", "bad value"),
        ("500=1.5", "not within 0..1"),
        ("500=-0.1", "not within 0..1"),
        ("500=0.6,429=0.6", "more than 1"),
        ("500=0.1,500=0.2", "given twice"),
        ("asn-change=0", "at least 1"),
        ("asn-change=1.5", "bad value"),
        ("retry-after=-1", ">= 0"),
        ("timeout-s=0", "> 0"),
    ],
)
def test_parse_errors_are_clear(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults.parse(spec)


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("html502", 502)])
def test_error_page_faults(sim: Simulator, client: httpx.Client, kind: str, status: int) -> None:
    _warm(sim, client)
    sim.fail_next(kind)
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert "<html>" in r.text
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 200
    assert sim.stats.faults == {kind: 1}


def test_429_carries_retry_after(sim: Simulator, client: httpx.Client) -> None:
    sim.fail_next("429")
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"


def test_html_fault_is_a_200_html_page(sim: Simulator, client: httpx.Client) -> None:
    _warm(sim, client)
    sim.fail_next("html")
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_truncated_fault_cuts_valid_json_in_the_middle(
    sim: Simulator, client: httpx.Client
) -> None:
    whole = client.get(f"{sim.url}{DAY_PATH}").content
    sim.fail_next("truncated")
    r = client.get(f"{sim.url}{DAY_PATH}")
    assert r.status_code == 200
    assert whole.startswith(r.content) and 0 < len(r.content) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_401_fault_refuses_good_credentials_once(sim: Simulator) -> None:
    sim.fail_next("401", count=2)
    r = httpx.get(f"{sim.url}/cgi-jstatus-E", auth=httpx.DigestAuth(HUB, KEY))
    assert r.status_code == 401
    assert "www-authenticate" in r.headers
    r = httpx.get(f"{sim.url}/cgi-jstatus-E", auth=httpx.DigestAuth(HUB, KEY))
    assert r.status_code == 200


def test_timeout_fault_holds_then_closes_without_answer(
    sim: Simulator, client: httpx.Client
) -> None:
    _warm(sim, client)
    sim.fail_next("timeout")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{sim.url}/cgi-jstatus-E", timeout=0.2)
    assert time.monotonic() - started < 1
    sim.fail_next("timeout")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{sim.url}/cgi-jstatus-E", timeout=3)
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 200


def test_stop_does_not_hang_on_a_held_request() -> None:
    sim = Simulator(now=NOW, faults=Faults(timeout_s=30)).start()
    sim.fail_next("timeout")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(f"{sim.url}/cgi-jstatus-E", timeout=20)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not caller.is_alive()
    assert len(errors) == 1


def test_fail_next_can_target_a_path(sim: Simulator, client: httpx.Client) -> None:
    _warm(sim, client)
    sim.fail_next("500", count=2, path_contains="cgi-jdayhour")
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 200
    assert client.get(f"{sim.url}{DAY_PATH}").status_code == 500
    assert client.get(f"{sim.url}{DAY_PATH}").status_code == 500
    assert client.get(f"{sim.url}{DAY_PATH}").status_code == 200


def test_fail_next_rejects_unknown_kinds(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.fail_next("418")
    with pytest.raises(ValueError, match="count"):
        sim.fail_next("500", count=0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.corrupt_day(date(2024, 6, 1), "418")
    assert set(FAULT_KINDS) >= {"500", "503", "429", "timeout", "html", "truncated", "401"}


@pytest.mark.parametrize("kind", ["truncated", "html", "500"])
def test_corrupt_day_fails_every_time(sim: Simulator, client: httpx.Client, kind: str) -> None:
    _warm(sim, client)
    sim.corrupt_day(datetime(2024, 6, 10, 15, tzinfo=UTC), kind)
    for path in (DAY_PATH, f"/cgi-jday-Z{ZAPPI}-2024-06-10", f"/cgi-jday-Z{ZAPPI}-2024-6-10-3-0-5"):
        for _ in range(2):
            r = client.get(f"{sim.url}{path}")
            if kind == "500":
                assert r.status_code == 500
            else:
                assert r.status_code == 200
                with pytest.raises(json.JSONDecodeError):
                    r.json()
    assert client.get(f"{sim.url}/cgi-jdayhour-Z{ZAPPI}-2024-6-11").status_code == 200
    sim.clear_faults()
    assert client.get(f"{sim.url}{DAY_PATH}").json()


def test_random_faults_are_reproducible_and_roughly_at_rate(client: httpx.Client) -> None:
    spec = "500=0.2,429=0.1,html=0.1,truncated=0.1,401=0.05"
    runs = []
    for _ in range(2):
        with Simulator(seed=5, now=NOW, faults=spec) as sim:
            runs.append([client.get(f"{sim.url}/cgi-jstatus-E").status_code for _ in range(60)])
            stats = sim.stats
    assert runs[0] == runs[1]
    assert 10 <= sum(stats.faults.values()) <= 50
    assert {500, 429} <= set(runs[0])


def test_fault_rates_can_change_while_running(sim: Simulator, client: httpx.Client) -> None:
    _warm(sim, client)
    sim.faults = "500=1"
    assert sim.faults.p500 == 1.0
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 500
    sim.faults = None
    assert client.get(f"{sim.url}/cgi-jstatus-E").status_code == 200


def test_latency_delays_every_answer(client: httpx.Client) -> None:
    with Simulator(now=NOW, latency_ms=150) as sim:
        started = time.monotonic()
        r = httpx.get(f"{sim.url}/cgi-jstatus-E")
        assert r.status_code == 401
        assert time.monotonic() - started >= 0.15


def test_stats_count_kinds_servers_and_rate(sim: Simulator, client: httpx.Client) -> None:
    _warm(sim, client)
    sim.reset_stats()
    client.get(f"{sim.url}{DAY_PATH}")
    client.get(f"{sim.asn_url}/cgi-jday-Z{ZAPPI}-2024-6-10")
    client.get(f"{sim.asn_url}/cgi-zappi-mode-Z{ZAPPI}-1-0-0-0000")
    client.get(f"{sim.asn_url}/cgi-get-app-key-")
    client.get(f"{sim.asn_url}/elsewhere")
    stats = sim.stats
    assert stats.total == 5
    assert stats.by_kind == {"jdayhour": 1, "jday": 1, "command": 1, "app-key": 1, "other": 1}
    assert stats.by_server == {"director": 1, "asn1": 4}
    assert stats.by_status == {200: 4, 404: 1}
    assert stats.max_per_second == 5
    assert stats.max_concurrent == 1


def test_stats_see_concurrency(client: httpx.Client) -> None:
    with Simulator(now=NOW, latency_ms=200) as sim:
        threads = [
            threading.Thread(target=httpx.get, args=(f"{sim.url}/cgi-jstatus-E",)) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sim.stats.max_concurrent >= 2


def test_serve_forever_reports_ready_and_stops() -> None:
    stop = threading.Event()
    ready: list[Simulator] = []

    def on_ready(sim: Simulator) -> None:
        ready.append(sim)
        assert httpx.get(f"{sim.url}/cgi-jstatus-E").status_code == 401
        stop.set()

    serve_forever(0, 3, 0, "500=0.01", on_ready=on_ready, stop=stop, now=NOW)
    assert ready[0].seed == 3
    assert ready[0].faults.p500 == 0.01


def test_main_rejects_a_bad_fault_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--faults", "nonsense=1"])
    assert info.value.code == 2
    assert "unknown fault" in capsys.readouterr().err


def test_main_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator() as other:
        port = other.url.rsplit(":", 1)[1]
        assert main(["--port", port, "--now", "2024-06-15T12:00:00"]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_module_entry_point_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["zapledger.simulator", "--help"])
        with pytest.raises(SystemExit) as info:
            runpy.run_module("zapledger.simulator", run_name="__main__")
    assert info.value.code == 0
    assert "--faults" in capsys.readouterr().out


def test_command_line_serves_until_interrupted() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "zapledger.simulator", "--now", "2024-06-15T12:00:00"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline().split()
            url = first[first.index("director") + 1]
            assert "curl --digest -u 10088888:sim-api-key" in proc.stdout.readline()
            r = httpx.get(f"{url}/cgi-jstatus-E", auth=httpx.DigestAuth(HUB, KEY))
            assert r.status_code == 200
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()


# --- scripted behaviour for client tests -------------------------------------------------------


def test_a_scripted_answer_replaces_the_endpoints_then_runs_out(
    sim: Simulator, client: httpx.Client
) -> None:
    _warm(sim, client)
    sim.answer(Answer.json({"status": -14}, headers=(("X-Extra", "1"),)), 2, "/cgi-jstatus-Z")
    assert sim.plan.answers_left == 2
    for _ in range(2):
        r = client.get(f"{sim.url}/cgi-jstatus-Z")
        assert (r.status_code, r.json(), r.headers["X-Extra"]) == (200, {"status": -14}, "1")
    assert sim.plan.answers_left == 0
    assert "zappi" in client.get(f"{sim.url}/cgi-jstatus-Z").json()
    assert client.get(f"{sim.url}/cgi-jstatus-E").json() == {"eddi": []}


def test_scripted_answers_need_authentication_and_can_keep_the_body(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.answer(Answer(None, None, asn=AsnHeader(name=None)), None, "/cgi-jstatus-E")
    bare = httpx.get(f"{sim.url}/cgi-jstatus-E")
    assert bare.status_code == 401 and bare.headers["X_MYENERGI-asn"] == sim.asn
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.json() == {"eddi": []} and "X_MYENERGI-asn" not in r.headers
    page = Answer.page(502, b"<html>proxy</html>", asn=AsnHeader("x_myenergi-ASN", "elsewhere"))
    sim.answer(page, 1, "/cgi-jstatus-E")  # queued behind the one above, which never runs out
    assert "X_MYENERGI-asn" not in client.get(f"{sim.url}/cgi-jstatus-E").headers
    sim.clear_faults()
    sim.answer(page, 1, "/cgi-jstatus-E")
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert (r.status_code, r.text, r.headers["x_myenergi-asn"]) == (
        502,
        "<html>proxy</html>",
        "elsewhere",
    )
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError, match="count"):
        sim.answer(Answer(), 0)


def test_the_asn_header_can_be_renamed_changed_or_left_out(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.plan.asn_header = AsnHeader(value="undefined")
    assert client.get(f"{sim.url}/cgi-jstatus-E").headers["X_MYENERGI-asn"] == "undefined"
    sim.plan.asn_header = AsnHeader(name=None)
    assert "X_MYENERGI-asn" not in client.get(f"{sim.url}/cgi-jstatus-E").headers
    sim.clear_faults()
    assert client.get(f"{sim.url}/cgi-jstatus-E").headers["X_MYENERGI-asn"] == sim.asn


def test_the_director_can_refuse_and_refusals_can_move_the_account(
    sim: Simulator, client: httpx.Client
) -> None:
    _warm(sim, client)
    sim.plan.director_refuses = True
    assert sim.plan.director_refuses
    first = sim.asn
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 401 and r.headers["X_MYENERGI-asn"] == first
    sim.plan.move_on_refusal(1)
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 401 and sim.asn != first and sim.plan.refusal_moves_left == 0
    assert client.get(f"http://{sim.asn}/cgi-jstatus-E").status_code == 200
    with pytest.raises(ValueError, match="count"):
        sim.plan.move_on_refusal(-1)


def test_the_account_can_move_right_after_an_answer(sim: Simulator, client: httpx.Client) -> None:
    _warm(sim, client)
    first = sim.asn
    sim.plan.move_after_next("/cgi-jstatus-E")
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 200 and r.headers["X_MYENERGI-asn"] == sim.asn != first
    assert client.get(f"{sim.url}/cgi-jstatus-E").headers["X_MYENERGI-asn"] == sim.asn


def test_the_request_log_sees_servers_paths_agents_and_auth(
    sim: Simulator, client: httpx.Client
) -> None:
    client.headers["User-Agent"] = "probe/1"
    _warm(sim, client)
    seen = sim.requests
    assert [(r.server, r.path, r.user_agent) for r in seen] == [
        ("director", "/cgi-jstatus-E", "probe/1")
    ] * 2
    assert [r.authorized for r in seen] == [False, True]
    assert seen[0].at <= seen[1].at
    sim.clear_requests()
    client.get(f"http://{sim.asn}/cgi-jstatus-E")
    after = sim.requests
    assert [(r.server, r.authorized) for r in after] == [("asn1", True)]
