"""The simulated myenergi cloud: a director and asn servers on 127.0.0.1, speaking the wire format.

Every response of every server carries ``X_MYENERGI-asn: <host>:<port>`` naming the asn server that
holds the account. The director serves authenticated requests too; an asn server that does not hold
the account answers 401 with a fresh digest challenge (and the header naming the new holder), so a
client that does not follow the header fails. Latency, the throttle, faults (random, forced, corrupt
days) come before authentication, in that order: latency, throttle, fault, authentication,
endpoint; a history outage (:mod:`._throttle`) then empties or halves history answers.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from ._api import Reply, SiteApi, html_page, path_kind
from ._commands import CommandFaults, DeviceLogEntry
from ._digest import DigestVerifier
from ._httpserver import ASN_HEADER, Handler, HttpServer
from ._requestlog import RequestLog, SeenRequest
from ._stats import SimStats, StatsRecorder
from ._throttle import HistoryOutage, Latency, Throttle, account_of
from ._zappi import ZappiDevices
from .faults import Answer, FaultPlan, Faults, check_kind
from .household import Household, QuirkRates

__all__ = ["ASN_HEADER", "Simulator", "main", "serve_forever"]

_FAULT_PAGES: dict[str, tuple[int, str, str]] = {
    "500": (500, "Internal Server Error", "The server encountered an internal error."),
    "503": (
        503,
        "Service Unavailable",
        "The server is temporarily unable to service your request.",
    ),
    "429": (429, "Too Many Requests", "Slow down."),
    "html": (200, "Maintenance", "myenergi is performing scheduled maintenance."),
    "html502": (502, "Bad Gateway", "The proxy server received an invalid response."),
}
_HTML = "text/html; charset=iso-8859-1"
#: The key everyone knows (README, demo): fine on 127.0.0.1, refused on any other interface.
DEMO_API_KEY = "sim-api-key"


def _is_loopback(host: str) -> bool:
    """Loopback only? Names other than localhost are not resolved (and count as beyond it).
    The simulator imports nothing of zapledger, so this is its own small check."""
    import ipaddress

    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


NowSource = datetime | Callable[[], datetime] | None


class Simulator:
    """The simulated cloud for one hub. Use as a context manager, or ``start()``/``stop()``.

    ``now`` is the simulated wall clock: ``None`` follows the real clock, a datetime freezes it
    (change it with :meth:`set_now`/:meth:`advance`), a callable is asked on every request.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        hub_serial: str = "10088888",
        api_key: str = DEMO_API_KEY,
        zappi_serials: Sequence[str] = ("16000001",),
        harvi_serials: Sequence[str] = ("11000001",),
        latency_ms: float | str = 0.0,
        faults: Faults | str | None = None,
        throttle: Throttle | str | None = None,
        history_outage: HistoryOutage | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        now: NowSource = None,
        timezone: str = "Europe/London",
        asn_servers: int = 2,
        history_start: date | None = None,
        quirk_rates: QuirkRates | None = None,
        command_reads: int = 2,
        command_faults: CommandFaults | str | None = None,
        nonce_ttl_s: float | None = None,
    ) -> None:
        if not (hub_serial.isascii() and hub_serial.isdigit()):
            raise ValueError("the hub serial must be digits 0-9 only")
        if api_key == DEMO_API_KEY and not _is_loopback(host):
            raise ValueError(
                f"refusing to listen on {host or 'every interface'} with the well-known demo API "
                "key: give your own API key"
            )
        if asn_servers < 2:
            raise ValueError("at least 2 asn servers are needed so the account can move")
        self.seed = seed
        self.hub_serial = hub_serial
        self.host = host
        #: per-request delay: fixed or a random range (``Latency.parse("100-900")``)
        self.latency = Latency.parse(latency_ms)
        #: a token bucket per account answering 429 + Retry-After (None: no throttle)
        self.throttle = Throttle.parse(throttle) if isinstance(throttle, str) else throttle
        #: empty or partial history answers while its window holds the simulated clock
        self.history_outage = history_outage
        self._latency_rng = random.Random(seed)
        self.timezone = timezone
        self._port = port
        self._n_asn = asn_servers
        self.household = Household(
            seed,
            zappi_serials=zappi_serials,
            timezone=timezone,
            quirk_rates=quirk_rates,
            history_start=history_start,
        )
        self._devices = ZappiDevices(self.household, timezone, hub_serial, command_reads)
        self.command_faults = command_faults
        self._api = SiteApi(self._devices, hub_serial, tuple(harvi_serials), seed)
        self._digest = DigestVerifier(hub_serial, api_key, nonce_ttl_s=nonce_ttl_s)
        parsed = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self._plan = FaultPlan(parsed, seed)
        self._stats = StatsRecorder()
        self._log = RequestLog()
        self._now: NowSource = None
        self.set_now(now)
        self._holder = 0
        self._lock = threading.Lock()
        self._servers: list[HttpServer] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started = False

    def __repr__(self) -> str:
        state = self.url if self._servers else "stopped"
        return f"Simulator(seed={self.seed}, hub_serial={self.hub_serial!r}, {state})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind the director and the asn servers and serve them in background threads."""
        if self._started:
            raise RuntimeError("a Simulator can be started only once")
        self._started = True
        try:
            self._servers.append(HttpServer((self.host, self._port), self, "director"))
            for i in range(self._n_asn):
                self._servers.append(HttpServer((self.host, 0), self, f"asn{i + 1}"))
        except OSError:
            for srv in self._servers:
                srv.server_close()
            self._servers.clear()
            raise
        for srv in self._servers:
            thread = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"myenergi-sim-{srv.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving; held (timeout) and idle connections are closed, nothing hangs."""
        self._stopping.set()
        stoppers = [threading.Thread(target=srv.shutdown) for srv in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for srv in self._servers:
            srv.server_close()
            srv.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def latency_ms(self) -> float:
        """The fixed latency (the low end of a range)."""
        return self.latency.low_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self.latency = Latency(value)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def bound(self) -> str:
        """The director's address as really bound (``0.0.0.0:8423`` when on every interface)."""
        self._require_started()
        host, port = self._servers[0].server_address[:2]
        text = str(host)
        return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"

    @property
    def _public_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104

    def _require_started(self) -> None:
        if not self._servers:
            raise RuntimeError("the simulator is not started")

    @property
    def url(self) -> str:
        """The director's base URL, e.g. ``http://127.0.0.1:41234``."""
        self._require_started()
        return f"http://{self._public_host}:{self._servers[0].port}"

    @property
    def asn(self) -> str:
        """The current ``X_MYENERGI-asn`` value: ``host:port`` of the server holding the account."""
        self._require_started()
        with self._lock:
            holder = self._holder
        return f"{self._public_host}:{self._servers[1 + holder].port}"

    @property
    def asn_url(self) -> str:
        return f"http://{self.asn}"

    @property
    def servers(self) -> dict[str, str]:
        """Server name ("director", "asn1", ...) -> ``host:port``."""
        self._require_started()
        return {srv.name: f"{self._public_host}:{srv.port}" for srv in self._servers}

    def move_account(self) -> str:
        """Move the account to the next asn server; returns the new asn."""
        with self._lock:
            self._holder = (self._holder + 1) % self._n_asn
        self._stats.moved()
        return self.asn

    # -- clock -------------------------------------------------------------------------------

    def now(self) -> datetime:
        source = self._now
        if source is None:
            return datetime.now(UTC)
        if isinstance(source, datetime):
            return source
        return source().astimezone(UTC)

    def set_now(self, when: NowSource) -> None:
        """Freeze the clock at ``when`` (aware), follow a callable, or (None) the real clock."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError("now must be timezone-aware")
            when = when.astimezone(UTC)
        self._now = when

    def advance(self, delta: timedelta | float) -> datetime:
        """Move a frozen clock forward (seconds or a timedelta); returns the new now."""
        if not isinstance(self._now, datetime):
            raise RuntimeError("advance() needs a frozen clock (Simulator(now=<datetime>))")
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._now = self._now + step
        return self._now

    # -- faults and statistics ---------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._plan.faults

    @faults.setter
    def faults(self, value: Faults | str | None) -> None:
        self._plan.faults = value if isinstance(value, Faults) else Faults.parse(value)

    def fail_next(self, kind: str, count: int = 1, path_contains: str | None = None) -> None:
        """The next ``count`` requests (whose raw path contains ``path_contains``) get ``kind``."""
        self._plan.fail_next(kind, count, path_contains)

    def corrupt_day(self, day: date | datetime, kind: str = "truncated") -> None:
        """Every history request for that UTC day (full or windowed from it) fails with ``kind``."""
        if isinstance(day, datetime):
            day = day.astimezone(UTC).date()
        self._plan.corrupt_day(day, check_kind(kind))

    def clear_faults(self) -> None:
        """Forget forced faults and corrupt days (random fault rates stay)."""
        self._plan.clear()

    # -- the devices' commands (see ``_commands``) --------------------------------------------

    @property
    def command_faults(self) -> CommandFaults:
        return self._devices.desk.faults

    @command_faults.setter
    def command_faults(self, value: CommandFaults | str | None) -> None:
        parsed = value if isinstance(value, CommandFaults) else CommandFaults.parse(value)
        self._devices.desk.faults = parsed

    def force_command(self, kind: str, count: int = 1, *, numeric: bool = False) -> None:
        """The next ``count`` commands get device fault ``kind`` (``busy``, ``fail``, ``stall`` …).

        Refusals carry their status as a string, as the real API does; ``numeric`` as a number.
        """
        self._devices.desk.force(kind, count, numeric=numeric)

    @property
    def device_log(self) -> tuple[DeviceLogEntry, ...]:
        """Every command a zappi of this hub received, in order, with its exact effect."""
        return self._devices.device_log()

    def reset_devices(self) -> None:
        """The zappis back to factory settings; device log and forced command faults cleared."""
        self._devices.reset()

    def device_settings(self, serial: str) -> dict[str, Any]:
        """A copy of one zappi's settings as the device holds them (status field names)."""
        return self._devices.settings(serial)

    @property
    def plan(self) -> FaultPlan:
        """The scripted behaviour for client tests: :meth:`FaultPlan.answer`,
        ``director_refuses``, :meth:`FaultPlan.move_on_refusal`, ``asn_header``, ..."""
        return self._plan

    def answer(
        self, answer: Answer, count: int | None = 1, path_contains: str | None = None
    ) -> None:
        """The next ``count`` (None: all) authenticated requests whose raw path contains
        ``path_contains`` get the scripted ``answer`` instead of the endpoint's."""
        self._plan.answer(answer, count, path_contains)

    @property
    def requests(self) -> tuple[SeenRequest, ...]:
        """Every request since start (or :meth:`clear_requests`), in arrival order."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    @property
    def stats(self) -> SimStats:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    # -- request handling --------------------------------------------------------------------

    def _serve(self, h: Handler, method: str) -> None:
        raw = h.path
        path = unquote(urlsplit(raw).path)
        self._stats.begin(h.srv.name, path_kind(path))
        h.log_index = self._log.arrived(
            h.srv.name, h.srv.port, raw, h.headers.get("User-Agent", "")
        )
        h.answered = False
        try:
            self._serve_counted(h, method, raw, path)
        except OSError:
            h.close_connection = True
        except Exception:  # a bug of the simulator: answer 500 rather than drop the connection
            if not h.answered:
                h.close_connection = True
                page = html_page(500, "Internal Server Error", "The simulator failed.")
                self._send(h, method, Reply(500, page, _HTML))
        finally:
            if not h.answered:
                self._stats.end()

    def _serve_counted(self, h: Handler, method: str, raw: str, path: str) -> None:
        plan = self._plan
        if plan.count_request():
            self.move_account()
        h.asn_name, h.asn_value = plan.asn_header.name, plan.asn_header.value
        with self._lock:
            delay_s = self.latency.draw_s(self._latency_rng)
        if delay_s > 0 and self._stopping.wait(delay_s):
            h.close_connection = True
            return
        if self._throttled(h, method):
            return
        fault = self._plan.draw(raw)
        if fault is not None and fault != "truncated":
            self._send_fault(h, fault, method)
            return
        if method not in ("GET", "HEAD"):
            h.close_connection = True  # its body (if any) is never read
            page = html_page(405, "Method Not Allowed", "Use GET.")
            self._send(h, method, Reply(405, page, _HTML))
            return
        with self._lock:
            index = self._holder
        holder = f"asn{index + 1}"
        if h.asn_value is None:
            h.asn_value = f"{self._public_host}:{self._servers[1 + index].port}"
        verified = self._digest.verify(method, raw, h.headers.get("Authorization"))
        if verified:
            self._log.authorized(h.log_index)
        on_right_server = h.srv.name == holder or (
            h.srv.name == "director" and not plan.director_refuses
        )
        if not on_right_server or not verified:
            self._send_challenge(h, method)
            if verified and plan.take_refusal_move():
                self.move_account()
            return
        scripted = plan.take_answer(raw)
        now = self.now()
        reply = self._api.handle(path, now, self.asn)
        outage = self.history_outage
        if (
            outage is not None
            and reply.status == 200
            and path_kind(path) in ("jday", "jdayhour")
            and outage.active(now)
        ):
            reply = Reply(200, outage.apply(reply.body), reply.content_type, reply.day)
        corrupt = self._plan.corrupted(reply.day) if reply.day is not None else None
        if corrupt is not None and corrupt != "truncated":
            self._send_fault(h, corrupt, method)
            return
        if (fault == "truncated" or corrupt == "truncated") and reply.status == 200:
            self._stats.fault("truncated")
            reply = Reply(200, reply.body[: len(reply.body) // 2], reply.content_type)
        if plan.take_move_after(raw):
            h.asn_value = self.move_account()
        headers: Sequence[tuple[str, str]] = ()
        if scripted is not None:
            reply, headers = self._scripted(h, reply, scripted)
        self._send(h, method, reply, headers)

    @staticmethod
    def _scripted(
        h: Handler, reply: Reply, answer: Answer
    ) -> tuple[Reply, Sequence[tuple[str, str]]]:
        """The endpoint's reply as a scripted answer changes it."""
        if answer.asn is not None:
            h.asn_name = answer.asn.name
            if answer.asn.value is not None:
                h.asn_value = answer.asn.value
        status = reply.status if answer.status is None else answer.status
        if answer.body is None:
            return Reply(status, reply.body, reply.content_type), answer.headers
        return Reply(status, answer.body, answer.content_type), answer.headers

    def _throttled(self, h: Handler, method: str) -> bool:
        """Answer 429 when the account's bucket is empty (credentialed requests only)."""
        throttle = self.throttle
        account = account_of(h.headers.get("Authorization"))
        if throttle is None or account is None:
            return False
        wait_s = throttle.take(account)
        if wait_s is None:
            return False
        page = html_page(429, "Too Many Requests", "Slow down.")
        headers = [("Retry-After", Throttle.retry_after_header(wait_s))]
        self._send(h, method, Reply(429, page, _HTML), headers)
        return True

    def _send(
        self, h: Handler, method: str, reply: Reply, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        # counted before writing: a client may send its next request before this thread resumes
        h.answered = True
        self._stats.answered(reply.status)
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        h.send_header("Content-Length", str(len(reply.body)))
        for name, value in headers:
            h.send_header(name, value)
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(reply.body)

    def _send_challenge(self, h: Handler, method: str) -> None:
        page = html_page(401, "Unauthorized", "This server could not verify your credentials.")
        challenge = [("WWW-Authenticate", self._digest.challenge())]
        self._send(h, method, Reply(401, page, _HTML), challenge)

    def _send_fault(self, h: Handler, kind: str, method: str) -> None:
        self._stats.fault(kind)
        if kind == "timeout":
            self._stopping.wait(self._plan.faults.timeout_s)
            h.close_connection = True
            return
        if kind == "401":
            self._send_challenge(h, method)
            return
        status, title, text = _FAULT_PAGES[kind]
        headers = [("Retry-After", str(self._plan.faults.retry_after_s))] if kind == "429" else []
        self._send(h, method, Reply(status, html_page(status, title, text), _HTML), headers)


def serve_forever(
    port: int = 0,
    seed: int = 1,
    latency_ms: float | str = 0.0,
    faults_spec: str | None = None,
    host: str = "127.0.0.1",
    hub_serial: str = "10088888",
    api_key: str = DEMO_API_KEY,
    *,
    on_ready: Callable[[Simulator], None] | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> None:
    """Run a simulator in the foreground until Ctrl-C (or ``stop`` is set).

    Prints nothing: ``on_ready(sim)`` is called once it listens (the CLI prints ``sim.url`` there).
    ``options`` go to :class:`Simulator` (``now``, ``timezone``, ``zappi_serials``, ...).
    Raises ``ValueError`` for a bad fault spec and ``OSError`` when the port is taken.
    """
    sim = Simulator(
        seed=seed,
        hub_serial=hub_serial,
        api_key=api_key,
        latency_ms=latency_ms,
        faults=Faults.parse(faults_spec),
        host=host,
        port=port,
        **options,
    )
    done = stop if stop is not None else threading.Event()
    with sim:
        try:
            if on_ready is not None:
                on_ready(sim)
            while not done.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    """``python -m zapledger.simulator``: run the simulated cloud in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m zapledger.simulator", description="Simulated myenergi cloud (127.0.0.1)."
    )
    parser.add_argument("--port", type=int, default=0, help="director port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--faults", default=None, help='e.g. "500=0.05,429=0.02,asn-change=200"')
    parser.add_argument("--hub-serial", default="10088888")
    parser.add_argument("--api-key", default=DEMO_API_KEY)
    parser.add_argument("--now", default=None, help="freeze the clock at this ISO time (UTC)")
    parser.add_argument(
        "--command-faults", default=None, help='e.g. "busy=0.1,invalid=0.05,fail=0.05,stall=0.01"'
    )
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    try:
        if args.now:
            frozen = datetime.fromisoformat(args.now)
            options["now"] = frozen if frozen.tzinfo else frozen.replace(tzinfo=UTC)
        Faults.parse(args.faults)
        if args.command_faults:
            options["command_faults"] = CommandFaults.parse(args.command_faults)
    except ValueError as exc:
        parser.error(str(exc))

    def ready(sim: Simulator) -> None:
        key = args.api_key if args.api_key == DEMO_API_KEY else "<api-key>"
        if not _is_loopback(args.host):
            print(f"warning: listening on {sim.bound}, reachable from other machines", flush=True)
        print(f"director {sim.url}  asn {sim.asn}  hub {sim.hub_serial}", flush=True)
        print(f"try: curl --digest -u {sim.hub_serial}:{key} {sim.url}/cgi-jstatus-*", flush=True)
        print(f"bound to {sim.bound}", flush=True)

    try:
        serve_forever(
            args.port,
            args.seed,
            args.latency_ms,
            args.faults,
            args.host,
            args.hub_serial,
            args.api_key,
            on_ready=ready,
            **options,
        )
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:
        parser.error(str(exc))
    return 0
