"""zapledger: keep, check and show the energy history of a myenergi zappi; control the charger.

The public API is what ``__all__`` lists; submodules whose names start with ``_`` are private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("zapledger")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
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
