"""A real MQTT broker (Debian's ``mosquitto``) on a free loopback port, with a config of our own.

Anonymous by default; ``users`` makes a password file with ``mosquitto_passwd`` and turns
anonymous access off. :meth:`Mosquitto.restart` stops the broker and starts it again on the same
port, without persistence: retained messages are gone, as after a real broker restart without a
store. A missing binary FAILS the test and names the script that installs it.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

__all__ = ["Mosquitto", "mosquitto_binary", "running_mosquitto"]

WAIT_S = 20.0
_INSTALL_HINT = (
    "run `bash scripts/system-deps.sh` (as root it installs Debian's mosquitto; "
    "`make test` runs it)"
)


def mosquitto_binary(name: str = "mosquitto") -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(f"the `{name}` binary is not installed: {_INSTALL_HINT}", pytrace=False)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One broker process; ``port`` stays the same across :meth:`restart`."""

    def __init__(
        self, workdir: Path, users: Mapping[str, str] | None = None, *, tls: bool = False
    ) -> None:
        self.binary = mosquitto_binary()
        self.workdir = workdir
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.log = workdir / "mosquitto.log"
        self.config = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # as root mosquitto would switch to its own user, who cannot read our files
            f"user {getpass.getuser()}",
            "persistence false",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        #: the CA that signed the broker's certificate (with ``tls``)
        self.ca_file: Path | None = None
        if tls:
            self.ca_file, cert, key = make_certificates(workdir)
            lines += [f"cafile {self.ca_file}", f"certfile {cert}", f"keyfile {key}"]
        if users:
            passwords = workdir / "passwords"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    [mosquitto_binary("mosquitto_passwd"), "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT_S
        while True:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                pytest.fail(f"mosquitto did not start on port {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung broker
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def make_certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it (``openssl``)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(f"the `openssl` binary is not installed: {_INSTALL_HINT}", pytrace=False)
    names = ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    ca_key, ca, key, csr, cert = (workdir / name for name in names)
    san = workdir / "san.ext"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=zapledger test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", san],
    ):  # fmt: skip
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


@contextlib.contextmanager
def running_mosquitto(
    workdir: Path, users: Mapping[str, str] | None = None, *, tls: bool = False
) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir, users, tls=tls).start()
    try:
        yield broker
    finally:
        broker.stop()
