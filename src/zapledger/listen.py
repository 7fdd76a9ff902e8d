"""Servers zapledger runs (the simulator, the coming metrics exporter): is a bind address local?

Every server that binds beyond loopback prints :func:`exposure_warning` once at start, and shows
the address it really bound, not the one a client on this machine would use.
"""

from __future__ import annotations

import ipaddress

__all__ = ["bound_address", "exposure_warning", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``. Other names are not resolved (no lookup
    leaves the machine to decide): a name counts as beyond loopback, which errs on the safe side.
    ``""`` means every interface."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def bound_address(sock_address: tuple[object, ...]) -> str:
    """``host:port`` (``[v6]:port``) of a bound socket's address, as the kernel reports it."""
    host, port = str(sock_address[0]), int(str(sock_address[1]))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def exposure_warning(what: str, host: str, address: str) -> str | None:
    """The warning line for a server bound beyond loopback, or None when it is local only."""
    if is_loopback(host):
        return None
    return (
        f"warning: {what} listens on {address}, reachable from other machines on the network; "
        "bind 127.0.0.1 unless you mean it"
    )
