"""Servers zapledger runs (the simulator, the coming metrics exporter): is a bind address local?

Every server that binds beyond loopback prints :func:`exposure_warning` once at start, and shows
the address it really bound, not the one a client on this machine would use.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["bound_address", "exposure_warning", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (``""`` means all: False)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


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
