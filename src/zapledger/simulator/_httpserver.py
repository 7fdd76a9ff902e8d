"""The HTTP plumbing of the simulator: threaded servers that hand every request to the cloud.

Every answer gets the ``X_MYENERGI-asn`` header in :meth:`_Handler.end_headers`, so even the
stdlib's own error pages (400, 414, ...) carry it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast

__all__ = ["ASN_HEADER", "Cloud", "Handler", "HttpServer"]

ASN_HEADER = "X_MYENERGI-asn"
_log = logging.getLogger(__name__)


class Cloud(Protocol):
    """What the servers need of the simulator."""

    @property
    def asn(self) -> str: ...

    def _serve(self, h: Handler, method: str) -> None: ...


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sim: Cloud, name: str) -> None:
        self.sim = sim
        self.name = name
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: headers and body are written separately: without this, delayed ACKs add ~40 ms a request
    disable_nagle_algorithm = True
    #: idle keep-alive connections are dropped after this many seconds
    timeout = 60.0
    _asn_pending = False
    #: the asn this request was judged by (set by the simulator), so the header that explains a
    #: refusal names the holder at the moment of the decision, not after a later move
    asn_value: str | None = None
    #: the name of that header for this answer (None: left out), set by the simulator's scripts
    asn_name: str | None = ASN_HEADER
    #: set once the current request's answer is counted in the statistics
    answered = False
    #: the current request's entry in the simulator's request log
    log_index = -1

    def version_string(self) -> str:
        return "myenergi-simulator/1"

    @property
    def srv(self) -> HttpServer:
        return cast(HttpServer, self.server)

    def setup(self) -> None:
        super().setup()
        self.srv.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.srv.track(self.connection, False)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._asn_pending = True
        super().send_response(code, message)

    def end_headers(self) -> None:
        if self._asn_pending:
            self._asn_pending = False
            if self.asn_name is not None:
                value = self.asn_value if self.asn_value is not None else self.srv.sim.asn
                self.send_header(self.asn_name, value)
            self.asn_value = None
            self.asn_name = ASN_HEADER
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.srv.name, format % args)

    def do_GET(self) -> None:
        self.srv.sim._serve(self, "GET")

    def do_HEAD(self) -> None:
        self.srv.sim._serve(self, "HEAD")

    def do_POST(self) -> None:
        self.srv.sim._serve(self, "POST")

    def do_PUT(self) -> None:
        self.srv.sim._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.srv.sim._serve(self, "DELETE")
