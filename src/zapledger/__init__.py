"""zapledger: keep, check and show the energy history of a myenergi zappi; control the charger.

The public API is what ``__all__`` lists; submodules whose names start with ``_`` are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    CloudConnectionError,
    CloudTimeoutError,
    CommandArgumentError,
    CommandError,
    CommandFailedError,
    CommandNotConfirmedError,
    ConfigError,
    MeterError,
    RateLimitedError,
    ServerError,
    StoreError,
    UsageError,
    ZapledgerError,
)

if TYPE_CHECKING:
    __version__: str
    from .backfill import sync
    from .client import Client
    from .control import Controller
    from .reconciliation import reconcile
    from .report import balance, write_html_report
    from .store import open_store


__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
    "Client",
    "CloudConnectionError",
    "CloudTimeoutError",
    "CommandArgumentError",
    "CommandError",
    "CommandFailedError",
    "CommandNotConfirmedError",
    "ConfigError",
    "Controller",
    "MeterError",
    "RateLimitedError",
    "ServerError",
    "StoreError",
    "UsageError",
    "ZapledgerError",
    "__version__",
    "balance",
    "open_store",
    "reconcile",
    "sync",
    "write_html_report",
]


#: Public names whose modules are imported on first use, so heavy dependencies (httpx, database
#: drivers, matplotlib) stay unloaded until needed and ``zapledger --help`` starts fast.
_LAZY = {
    "Client": "client",
    "Controller": "control",
    "open_store": "store",
    "balance": "report",
    "write_html_report": "report",
    "sync": "backfill",
    "reconcile": "reconciliation",
}


def _version() -> str:
    """The installed distribution's version (importlib.metadata is slow: asked on first use)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zapledger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zapledger' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
