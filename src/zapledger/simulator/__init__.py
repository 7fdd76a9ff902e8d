"""A stand-in for the myenergi cloud: real HTTP on 127.0.0.1, digest auth, director/asn, faults.

It speaks the wire format on its own (it imports nothing else from zapledger), so a misunderstanding
shared by the client and the models cannot hide in the tests::

    from zapledger.simulator import Simulator, Faults

    with Simulator(seed=1, faults=Faults.parse("500=0.05,asn-change=200")) as sim:
        httpx.get(f"{sim.url}/cgi-jstatus-*", auth=httpx.DigestAuth("10088888", "sim-api-key"))

The household behind it (:class:`Household`) is the deterministic truth other code checks against.
"""

from __future__ import annotations

from ._commands import COMMAND_FAULT_KINDS, CommandFaults, DeviceLogEntry
from ._physics import DayTruth, EvSession, Site
from ._requestlog import SeenRequest
from ._stats import SimStats
from ._throttle import HistoryOutage, Latency, Throttle
from .faults import FAULT_KINDS, Answer, AsnHeader, Faults
from .household import ENERGY_KEYS, DayQuirks, EvState, Household, QuirkRates, true_day_totals
from .server import ASN_HEADER, Simulator, main, serve_forever

__all__ = [
    "ASN_HEADER",
    "COMMAND_FAULT_KINDS",
    "ENERGY_KEYS",
    "FAULT_KINDS",
    "Answer",
    "AsnHeader",
    "CommandFaults",
    "DayQuirks",
    "DayTruth",
    "DeviceLogEntry",
    "EvSession",
    "EvState",
    "Faults",
    "HistoryOutage",
    "Household",
    "Latency",
    "QuirkRates",
    "SeenRequest",
    "SimStats",
    "Simulator",
    "Site",
    "Throttle",
    "main",
    "serve_forever",
    "true_day_totals",
]
