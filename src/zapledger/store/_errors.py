"""Database URLs without their secrets, and driver errors as one-line :class:`StoreError` s.

All redaction is :func:`zapledger.redact.redact`; this module only shapes store messages.
"""

from __future__ import annotations

import re

from ..exceptions import StoreError
from ..redact import redact, redact_url, url_secrets

__all__ = ["one_line", "redact_url", "store_error", "url_secrets"]


def one_line(exc: BaseException, secrets: list[str] | None = None) -> str:
    """The exception's message on one line, with every secret scrubbed."""
    text = re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__
    return redact(text, secrets or ())


def store_error(
    action: str, url: str, exc: BaseException, secrets: list[str] | None = None
) -> StoreError:
    """A one-line StoreError naming what failed on which (redacted) database."""
    return StoreError(f"{action} failed on {redact_url(url)}: {one_line(exc, secrets)}")
