"""Database URLs without their secrets, and driver errors as one-line :class:`StoreError` s."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..exceptions import StoreError

__all__ = ["one_line", "redact_url", "store_error", "url_secrets"]

_REDACTED = "***"
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def url_secrets(url: str) -> list[str]:
    """The passwords a URL carries (in its user info or its query), to scrub from messages."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password] if parts.password else []
        secrets += [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_PARAMS and v]
    except ValueError:
        return []
    return secrets


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for logs, reprs and messages.

    Only the secret is touched; the rest of the URL stays exactly as written.
    """
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            url = url.replace(parts.netloc, f"{user}:{_REDACTED}@{hostport}", 1)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
                query = urlencode(
                    [(k, _REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                    safe="*",
                )
                head, _, tail = url.partition("?")
                fragment = tail.partition("#")[2]
                url = f"{head}?{query}" + (f"#{fragment}" if fragment else "")
    except ValueError:
        # Unparseable: keep only the scheme, which cannot hold a secret.
        return url.split(":", 1)[0] + ":…" if ":" in url else "…"
    return url


def one_line(exc: BaseException, secrets: list[str] | None = None) -> str:
    """The exception's message on one line, with every secret scrubbed."""
    text = re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__
    for secret in secrets or ():
        text = text.replace(secret, _REDACTED)
    return text


def store_error(
    action: str, url: str, exc: BaseException, secrets: list[str] | None = None
) -> StoreError:
    """A one-line StoreError naming what failed on which (redacted) database."""
    return StoreError(f"{action} failed on {url}: {one_line(exc, secrets)}")
