"""Where log records go in the CLI: details with ``-v``, else only one friendly line per retry.

Every handler carries :class:`~zapledger.redact.RedactingFilter`, so no credential is printed
whatever a library logs.
"""

from __future__ import annotations

import logging
import sys

from ..redact import RedactingFilter

__all__ = ["setup_logging"]


class _RetryNotice(logging.Handler):
    """stamina's ``retry_scheduled`` record as "cloud busy, retrying in 2 s" (without ``-v``)."""

    def emit(self, record: logging.LogRecord) -> None:
        wait_s = getattr(record, "stamina.wait_for", None)
        when = f" in {float(wait_s):.0f} s" if isinstance(wait_s, int | float) else ""
        sys.stderr.write(f"cloud busy, retrying{when}\n")


_INSTALLED: list[tuple[logging.Logger, logging.Handler, int]] = []


def setup_logging(verbose: bool) -> None:
    """``-v``: everything at DEBUG on stderr (redacted). Otherwise retries as one short line
    each, and nothing else below a warning (errors reach the user as exceptions). Calling it
    again (one process running several commands, as tests do) replaces the earlier setup."""
    stamina = logging.getLogger("stamina")
    for logger, old, level in _INSTALLED:
        logger.removeHandler(old)
        logger.setLevel(level)
    _INSTALLED.clear()
    stamina.propagate = True
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger()
    else:
        handler = _RetryNotice()
        logger = stamina
        stamina.propagate = False
    _INSTALLED.append((logger, handler, logger.level))
    if verbose:
        logger.setLevel(logging.DEBUG)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
