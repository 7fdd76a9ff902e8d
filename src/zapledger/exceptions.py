"""The one exception hierarchy of zapledger.

Every error the library raises on purpose is a :class:`ZapledgerError`, so a caller can catch one
class. Messages name the endpoint or file that failed, never the API key.

::

    ZapledgerError
    ├── UsageError             an argument the caller got wrong (a backwards range, a date out of
    │   │                      range, nothing to start from); also a ``ValueError``
    │   └── CommandArgumentError   a command argument out of range, or no such zappi: nothing sent
    ├── ConfigError            missing or unreadable credentials / settings
    │   └── OutputError            an output file exists (no --force) or cannot be written
    ├── ApiError               anything that went wrong talking to the myenergi cloud
    │   ├── AuthenticationError    401: wrong hub serial or API key (never retried)
    │   ├── CloudConnectionError   connection refused/reset, DNS, TLS
    │   │   └── CloudTimeoutError  no answer in time
    │   ├── RateLimitedError       429 after the retries ran out (``retry_after_s``)
    │   ├── ServerError            5xx after the retries ran out, or another unexpected status
    │   ├── BadResponseError       malformed JSON, an HTML error page, a payload of the wrong shape
    │   ├── CommandError           the API refused a command (``code``, ``meaning``)
    │   │   └── CommandFailedError the charger accepted it, then reported failure (``cmt`` 253)
    │   └── CommandNotConfirmedError   accepted, but the status did not show it done in time
    │   └── PriceFetchError    a price provider (energyzero, Octopus) could not be reached
    ├── PriceError             price input (a CSV file, a provider's answer) that is not valid
    ├── StoreError             the database could not be opened, migrated or written
    └── MeterError             meter input that could not be read at all
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
    "CloudConnectionError",
    "CloudTimeoutError",
    "CommandArgumentError",
    "CommandError",
    "CommandFailedError",
    "CommandNotConfirmedError",
    "ConfigError",
    "MeterError",
    "OutputError",
    "PriceError",
    "PriceFetchError",
    "RateLimitedError",
    "ServerError",
    "StoreError",
    "UsageError",
    "ZapledgerError",
]


class ZapledgerError(Exception):
    """Base class of every error zapledger raises on purpose."""


class UsageError(ZapledgerError, ValueError):
    """An argument is unusable as given; the CLI answers it like a wrong option (exit 2)."""


class ConfigError(ZapledgerError):
    """Credentials or settings are missing or unusable."""


class OutputError(ConfigError):
    """An output file exists and ``force`` was not given, or the path cannot be written."""


class ApiError(ZapledgerError):
    """A request to the myenergi cloud failed; ``endpoint`` is the path, without credentials."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class AuthenticationError(ApiError):
    """The cloud answered 401: the hub serial or the API key is wrong."""


class CloudConnectionError(ApiError):
    """The cloud could not be reached (after retries)."""


class CloudTimeoutError(CloudConnectionError):
    """The cloud did not answer in time (after retries)."""


class RateLimitedError(ApiError):
    """The cloud kept answering 429 (after retries)."""

    def __init__(
        self, message: str, *, endpoint: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.retry_after_s = retry_after_s


class ServerError(ApiError):
    """The cloud kept answering 5xx, or answered with a status the client does not expect."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status


class BadResponseError(ApiError):
    """The answer could not be decoded: malformed JSON, an HTML page, or a wrong shape."""


#: Meanings of the command status codes that have been observed.
COMMAND_CODES: dict[int, str] = {
    -12: "not authorised",
    -13: "serial not found",
    -14: "invalid parameter",
    -26: "device busy",
}


class CommandError(ApiError):
    """The cloud refused a command: ``code`` is its status code, ``meaning`` what it means."""

    def __init__(self, code: int, *, endpoint: str | None = None, statustext: str = "") -> None:
        self.code = code
        self.meaning = COMMAND_CODES.get(code, "unknown error")
        detail = f": {statustext}" if statustext else ""
        super().__init__(
            f"command refused with code {code} ({self.meaning}){detail}", endpoint=endpoint
        )


class CommandFailedError(CommandError):
    """The charger accepted a command and then reported it failed: ``cmt`` showed 253."""

    def __init__(self, *, endpoint: str | None = None, detail: str = "") -> None:
        self.code = 253
        self.meaning = "the charger reported the command failed"
        more = f"; {detail}" if detail else ""
        ApiError.__init__(self, f"{self.meaning} (cmt 253){more}", endpoint=endpoint)


class CommandNotConfirmedError(ApiError):
    """A command was accepted but the status did not show it done before the wait ran out."""


class CommandArgumentError(UsageError):
    """A command argument is out of range, or names no zappi of the hub; nothing was sent."""


class StoreError(ZapledgerError):
    """The database could not be opened, migrated or written."""


class MeterError(ZapledgerError):
    """Meter input could not be read at all (one bad telegram or row is counted, not raised)."""


class PriceFetchError(ApiError):
    """A price provider could not be reached or refused the request."""


class PriceError(ZapledgerError):
    """Prices that cannot be used: a bad CSV row, an answer of the wrong shape."""
