"""zapledger: keep, check and show the energy history of a myenergi zappi; control the charger.

The public API is what ``__all__`` lists; submodules whose names start with ``_`` are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .exceptions import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    CloudConnectionError,
    CloudTimeoutError,
    CommandError,
    ConfigError,
    MeterError,
    RateLimitedError,
    ServerError,
    StoreError,
    ZapledgerError,
)

if TYPE_CHECKING:
    from .client import Client

try:
    __version__ = version("zapledger")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
    "Client",
    "CloudConnectionError",
    "CloudTimeoutError",
    "CommandError",
    "ConfigError",
    "MeterError",
    "RateLimitedError",
    "ServerError",
    "StoreError",
    "ZapledgerError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import the client (and httpx) only when it is asked for, so the CLI starts fast."""
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module 'zapledger' has no attribute {name!r}")
