"""Sending a checked command and reading its effect back.

The cloud's answer only says it accepted the command; the charger executes it afterwards and shows
its progress in the status: ``cmt`` 1..10 in flight, 253 failed, 254 done. :class:`Controller`
polls the status (bounded) until ``cmt`` is 254 *and* the changed fields read back as asked. A 253
counts as this command's failure unless it was already there before and nothing was seen in flight
since (then it is the previous command's). A field the status does not carry at all (older
firmware) cannot be compared: it is listed in ``unverified`` and ``cmt`` alone decides.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import TYPE_CHECKING, Any

from ..exceptions import (
    ApiError,
    BadResponseError,
    CommandArgumentError,
    CommandError,
    CommandFailedError,
    CommandNotConfirmedError,
)
from ._commands import (
    ChargeMode,
    Command,
    LockFlags,
    ManualBoost,
    PhaseSetting,
    SetBoostTimer,
    SetLocks,
    SetMinGreen,
    SetMode,
    SetPhases,
    SetPriority,
    SmartBoost,
    StopBoost,
    charge_mode,
    check_serial,
    phase_setting,
)
from ._timers import BoostTimer, decode_boost_timers, parse_hhmm

if TYPE_CHECKING:
    from ..client import Client
    from ..models import ZappiStatus

__all__ = ["BoostTimers", "CommandResult", "Controller"]

#: Fields the status may leave out when they are 0 (``sbm``: smart boost minute).
_ABSENT_MEANS_ZERO = frozenset({"sbm"})


@dataclass(frozen=True)
class CommandResult:
    """What was sent, what the cloud answered, and the state read back afterwards.

    ``confirmed`` is False only when the caller chose not to wait (``state`` is then None).
    """

    command: str
    arguments: Mapping[str, Any]
    serial: str
    sent: str
    answer: Mapping[str, Any]
    expected: Mapping[str, Any]
    confirmed: bool
    state: Mapping[str, Any] | None = None
    command_timer: int | None = None
    unverified: tuple[str, ...] = ()
    polls: int = 0
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "arguments": dict(self.arguments),
            "serial": self.serial,
            "sent": self.sent,
            "answer": dict(self.answer),
            "expected": dict(self.expected),
            "confirmed": self.confirmed,
            "state": None if self.state is None else dict(self.state),
            "command_timer": self.command_timer,
            "unverified": list(self.unverified),
            "polls": self.polls,
            "waited_s": round(self.waited_s, 3),
        }


@dataclass(frozen=True)
class BoostTimers:
    """A zappi's boost timer slots as it reports them."""

    serial: str
    timers: tuple[BoostTimer, ...]
    raw: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"serial": self.serial, "timers": [t.as_dict() for t in self.timers]}


def _same(read: Any, wanted: Any) -> bool:
    if isinstance(read, bool) or isinstance(wanted, bool):
        return read is wanted
    if isinstance(wanted, int) and isinstance(read, int | float | str):
        try:
            return float(read) == wanted
        except ValueError:
            return False
    return bool(read == wanted)


def _read_back(
    source: Mapping[str, Any], expected: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...], bool]:
    """The expected fields as read, those the source lacks, and whether all present ones match."""
    state: dict[str, Any] = {}
    missing = []
    for key in expected:
        if key in source:
            state[key] = source[key]
        elif key in _ABSENT_MEANS_ZERO:
            state[key] = 0
        else:
            missing.append(key)
    matches = all(_same(value, expected[key]) for key, value in state.items())
    return state, tuple(missing), matches


class Controller:
    """The one way zapledger sends commands: check, send, decode, wait for the effect.

    ``timeout_s`` bounds the wait after an accepted command; the status is read every
    ``poll_interval_s``. ``clock`` (monotonic seconds) and ``sleep`` can be replaced in tests.
    """

    def __init__(
        self,
        client: Client,
        *,
        timeout_s: float = 90.0,
        poll_interval_s: float = 5.0,
        clock: Callable[[], float] = _time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if timeout_s < 0 or poll_interval_s <= 0:
            raise ValueError("timeout_s must be >= 0 and poll_interval_s > 0")
        self.client = client
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self._clock = clock
        self._sleep = sleep

    # -- the general path --------------------------------------------------------------------

    async def run(
        self, command: Command, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        """Send ``command`` to ``serial`` (default: the hub's first zappi) and confirm it.

        Raises :class:`CommandArgumentError` (nothing sent) for a serial the hub does not have,
        :class:`~zapledger.exceptions.CommandError` when the cloud refuses,
        :class:`CommandFailedError` when the charger reports failure (``cmt`` 253) and
        :class:`CommandNotConfirmedError` when the wait runs out.
        """
        if not isinstance(command, Command):
            raise CommandArgumentError(f"not a command: {command!r}")
        before = await self._zappi(check_serial(serial))
        sn = before.serial
        path = command.path(sn, before)
        endpoint = path.lstrip("/")
        answer = await self.client.command(path)
        command.check_answer(answer, endpoint)
        expected = command.expected(before)
        result = CommandResult(
            command=command.name,
            arguments=command.arguments(),
            serial=sn,
            sent=path,
            answer=answer,
            expected=expected,
            confirmed=False,
        )
        if not wait:
            return result
        return await self._confirm(command, result, before.command_timer, endpoint)

    async def _zappi(self, serial: str | None) -> ZappiStatus:
        """The asked zappi's status now; refused when the hub has no such zappi."""
        zappis = (await self.client.site_status()).zappis
        if not zappis:
            raise CommandArgumentError(f"hub {self.client.hub_serial} reports no zappi")
        if serial is None:
            return zappis[0]
        for zappi in zappis:
            if zappi.serial == serial:
                return zappi
        known = ", ".join(z.serial for z in zappis)
        raise CommandArgumentError(f"zappi {serial} is not on this hub (its zappis: {known})")

    async def _confirm(
        self, command: Command, result: CommandResult, cmt_before: int | None, endpoint: str
    ) -> CommandResult:
        started = self._clock()
        deadline = started + self.timeout_s
        in_flight_seen = False
        polls = 0
        while True:
            try:
                status = await self.client.zappi_status(result.serial)
            except ApiError as exc:
                if isinstance(exc, CommandError):
                    raise
                raise CommandNotConfirmedError(
                    f"{endpoint}: accepted, but reading it back failed: {exc}", endpoint=endpoint
                ) from exc
            polls += 1
            cmt = status.command_timer
            if cmt is not None and 1 <= cmt <= 10:
                in_flight_seen = True
            elif cmt == 253 and (in_flight_seen or cmt_before != 253):
                state, _, _ = _read_back(status.raw, result.expected)
                raise CommandFailedError(endpoint=endpoint, detail=f"read back {state}")
            elif cmt in (254, None):
                source = status.raw
                if command.reads_boost_timers:
                    source = await self._slot(result.serial, int(result.expected["slt"]))
                state, missing, matches = _read_back(source, result.expected)
                if matches:
                    return replace(
                        result,
                        confirmed=True,
                        state=state,
                        command_timer=cmt,
                        unverified=missing,
                        polls=polls,
                        waited_s=self._clock() - started,
                    )
            now = self._clock()
            if now >= deadline:
                raise CommandNotConfirmedError(
                    f"{endpoint}: accepted, but not confirmed within {self.timeout_s:g} s "
                    f"(cmt {cmt}; asked {dict(result.expected)}; read {self._fields(status)})",
                    endpoint=endpoint,
                )
            await self._sleep(min(self.poll_interval_s, deadline - now))

    @staticmethod
    def _fields(status: ZappiStatus) -> dict[str, Any]:
        keys = ("zmo", "bsm", "bss", "tbk", "sbh", "sbm", "sbk", "mgl", "pri", "lck")
        return {k: status.raw[k] for k in (*keys, "phaseSetting") if k in status.raw}

    async def _slot(self, serial: str, slot: int) -> Mapping[str, Any]:
        endpoint = f"cgi-boost-time-Z{serial}"
        for timer in decode_boost_timers(await self.client.command(f"/{endpoint}"), endpoint):
            if timer.slot == slot:
                return {"slt": slot, **timer.fields()}
        raise BadResponseError(f"{endpoint}: no slot {slot} in the answer", endpoint=endpoint)

    # -- reads -------------------------------------------------------------------------------

    async def boost_timers(self, *, serial: str | int | None = None) -> BoostTimers:
        """The zappi's boost timer slots."""
        sn = (await self._zappi(check_serial(serial))).serial
        endpoint = f"cgi-boost-time-Z{sn}"
        payload = await self.client.command(f"/{endpoint}")
        return BoostTimers(sn, decode_boost_timers(payload, endpoint), dict(payload))

    # -- one method per command (arguments are checked before anything is sent) -------------

    async def set_mode(
        self, mode: ChargeMode | str, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        """Fast, Eco, Eco+ or Stop (``"fast" "eco" "eco+" "stop"``)."""
        return await self.run(SetMode(charge_mode(mode)), serial=serial, wait=wait)

    async def boost(
        self, energy_kwh: int, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        """Manual boost: add ``energy_kwh`` (1..99) from the grid now."""
        return await self.run(ManualBoost(energy_kwh), serial=serial, wait=wait)

    async def smart_boost(
        self,
        energy_kwh: int,
        ready_by: time | str,
        *,
        serial: str | int | None = None,
        wait: bool = True,
    ) -> CommandResult:
        """Smart boost: ``energy_kwh`` ready by ``ready_by`` (``"07:30"``, quarter hours)."""
        by = parse_hhmm(ready_by, "ready-by") if isinstance(ready_by, str) else ready_by
        return await self.run(SmartBoost(energy_kwh, by), serial=serial, wait=wait)

    async def stop_boost(
        self, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        return await self.run(StopBoost(), serial=serial, wait=wait)

    async def set_min_green(
        self, level_pct: int, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        return await self.run(SetMinGreen(level_pct), serial=serial, wait=wait)

    async def set_priority(
        self, priority: int, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        return await self.run(SetPriority(priority), serial=serial, wait=wait)

    async def set_phases(
        self, phases: PhaseSetting | str, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        """``"single"``, ``"three"`` or ``"auto"``."""
        return await self.run(SetPhases(phase_setting(phases)), serial=serial, wait=wait)

    async def set_locks(
        self, flags: LockFlags, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        return await self.run(SetLocks(flags), serial=serial, wait=wait)

    async def set_boost_timer(
        self, timer: BoostTimer, *, serial: str | int | None = None, wait: bool = True
    ) -> CommandResult:
        return await self.run(SetBoostTimer(timer), serial=serial, wait=wait)
