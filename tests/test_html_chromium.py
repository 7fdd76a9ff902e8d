"""The HTML report in a real headless Chromium: renders, no console errors, every chart loaded.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), which needs no websocket client
and no extra dependency. The screenshot is kept in the test's tmp folder, and also copied to
``$ZAPLEDGER_TEST_ARTIFACTS`` when that is set (CI can keep it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from test_charts import assert_drawn_png
from test_report_data import NOW, fill
from zapledger.report import write_html_report
from zapledger.store import open_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_S = 60.0


class DevTools:
    """A minimal DevTools-protocol session with one page, over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # the browser reads commands on fd 3 and writes answers on fd 4 (bash, as dash cannot
        # redirect from descriptors above 9)
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        with log.open("wb") as log_file:
            self.proc = subprocess.Popen(
                ["bash", "-c", script, binary, *flags],
                pass_fds=(to_browser_r, from_browser_w),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the debugging pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open_page(self) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP, failed loads)."""
        found: list[str] = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", page=False)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium: run `make system-deps` (scripts/system-deps.sh)")
        pytest.skip("chromium is not installed (make system-deps installs it)")
    devtools = DevTools(CHROMIUM, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        devtools.open_page()
        yield devtools
    finally:
        devtools.close()


def test_report_renders_in_chromium(browser: DevTools, tmp_path: Path) -> None:
    with open_store("sqlite:///:memory:") as store:
        fill(store, date(2024, 10, 20), date(2024, 10, 29), "Europe/London")
        page = write_html_report(
            store,
            date(2024, 10, 1),
            date(2024, 10, 31),
            "Europe/London",
            out_dir=tmp_path / "html",
            now=NOW,
        )
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.call("Page.navigate", {"url": page.as_uri()})
    browser.wait_for("Page.loadEventFired")
    state = browser.call(
        "Runtime.evaluate",
        {
            "expression": "JSON.stringify({"
            "flag: document.body.dataset.imagesLoaded,"
            "images: Array.from(document.images).map(i => [i.complete, i.naturalWidth]),"
            "rows: document.querySelectorAll('#balance tbody tr').length,"
            "title: document.title})",
            "returnByValue": True,
        },
    )
    result = json.loads(state["result"]["value"])
    assert result["title"] == "Energy balance 2024-10-01 to 2024-10-31"
    assert result["rows"] == 31
    # days, the last day per hour, the profile, the charge sessions' solar share
    assert len(result["images"]) == 4
    # each chart decoded at its full PNG width (charts are 1000 px wide)
    assert result["images"] == [[True, 1000]] * 4
    assert result["flag"] == "all"

    metrics = browser.call("Page.getLayoutMetrics")
    height = int(metrics["cssContentSize"]["height"])
    shot = browser.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
        },
    )
    png = base64.b64decode(shot["data"])
    assert_drawn_png(png, (1280, height))
    screenshot = tmp_path / "report-screenshot.png"
    screenshot.write_bytes(png)
    keep = os.environ.get("ZAPLEDGER_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
    assert browser.errors() == []


def test_the_check_sees_broken_images_and_errors(browser: DevTools, tmp_path: Path) -> None:
    """The harness itself: a broken image and a console error are noticed."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
        "<script>console.error('boom');"
        "window.addEventListener('load', () => document.body.dataset.imagesLoaded ="
        " Array.from(document.images).every(i => i.naturalWidth > 0) ? 'all' : 'broken');"
        "</script></body></html>"
    )
    browser.call("Page.navigate", {"url": page.as_uri()})
    browser.wait_for("Page.loadEventFired")
    flag = browser.call(
        "Runtime.evaluate",
        {"expression": "document.body.dataset.imagesLoaded", "returnByValue": True},
    )
    assert flag["result"]["value"] == "broken"
    assert any("boom" in e for e in browser.errors())
