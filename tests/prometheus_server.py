"""A real Prometheus server (Debian's ``prometheus``) that scrapes one loopback target every second.

Tests read the series back through its HTTP API, as a dashboard or an alert would. A missing
binary FAILS the test with the name of the script that installs it: the exporter is never
silently untested.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = ["PrometheusServer", "prometheus_binary", "running_prometheus"]

#: Bound on every wait for the server (start, first scrape, a series to appear).
WAIT_S = 60.0


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail(
            "the `prometheus` server binary is not installed: run `bash scripts/system-deps.sh` "
            "(as root it installs Debian's prometheus; `make test` runs it)",
            pytrace=False,
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """A running server; :meth:`query` is ``/api/v1/query``, :meth:`wait_for` polls it."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.proc = proc
        self.log = log

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr``: ``[{"metric": {...}, "value": [ts, "text"]}, ...]``."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, expr: str, timeout_s: float = WAIT_S) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns a series (bounded); fail with the server log if not."""
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                result = self.query(expr)
                if result:
                    return result
            if time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                pytest.fail(f"prometheus has no series for {expr!r} after {timeout_s} s:\n{tail}")
            time.sleep(0.2)


@contextlib.contextmanager
def running_prometheus(target: str, workdir: Path) -> Iterator[PrometheusServer]:
    """Prometheus scraping ``target`` (``host:port``) every second; stopped on exit."""
    binary = prometheus_binary()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: zapledger\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = _free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        server.wait_for('up{job="zapledger"} == 1')
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            proc.kill()
            proc.wait(timeout=10)
