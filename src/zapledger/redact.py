"""The one place that takes credentials out of text: every message that may carry one goes here.

A credential can hide in many shapes: the user info of a URL (``postgresql://u:pw@host/db``, where
a password may hold ``#``, ``/``, ``?`` or ``@`` that a URL parser misreads), a libpq
``key=value`` string (``password='it''s'``), a query parameter, a config line (``api_key = "…"``),
an ``Authorization`` header, or simply the value itself (the API key inside a traceback).
:func:`redact` handles all of them: the known values registered with :func:`register_secret` are
replaced wherever they appear, and the shapes above are recognised without knowing the value.

This module imports nothing of zapledger, so the store, the HTTP layer, the config and the CLI
can all use it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "forget_secrets",
    "normalise_userinfo",
    "redact",
    "redact_url",
    "register_secret",
    "split_userinfo",
    "url_secrets",
]

REDACTED = "***"
#: Secrets shorter than this are not scrubbed by value (they would blank out ordinary words);
#: their shapes (URL user info, ``password=``) are still recognised.
MIN_SECRET_CHARS = 4

_KNOWN: set[str] = set()
_LOCK = threading.Lock()

#: Keys whose value is a credential, in ``key=value``/``key: value`` text of any origin.
_SECRET_KEYS = (
    r"password|passwd|pwd|sslpassword|api[_-]?key|apikey|token|access[_-]?token|secret|"  # noqa: S105
    r"client[_-]?secret"
)
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>\b(?:{_SECRET_KEYS}))
    (?P<sep>\s*[=:]\s*)
    (?P<value>'(?:[^'\\]|\\.)*(?:'|$)     # libpq single quotes, backslash escapes
            |"(?:[^"\\]|\\.)*(?:"|$)      # TOML / JSON double quotes
            |[^\s&;,'"]+)                 # bare value, up to a separator
    """
)
_AUTH_HEADER = re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:(?:digest|basic|bearer)\s+)?[^\n]+")
_SCHEME = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://")
#: What may follow the ``@`` that ends user info: a host (name, IPv4, [IPv6]) and a port.
_HOST_AFTER_AT = re.compile(r"(?:\[[0-9A-Fa-f:.%a-z]*\]?|[A-Za-z0-9.\-_%~]*)(?::[0-9]*)?")


def register_secret(value: str | None) -> None:
    """Remember a credential (API key, database password) so :func:`redact` scrubs its value."""
    if value is None:
        return
    forms = {value, quote(value, safe=""), quote(value)}
    with _LOCK:
        _KNOWN.update(f for f in forms if len(f) >= MIN_SECRET_CHARS)


def forget_secrets() -> None:
    """Forget every registered value (a process that runs many commands, such as a test run)."""
    with _LOCK:
        _KNOWN.clear()


def _userinfo_end(text: str, start: int) -> int:
    """Index of the ``@`` that ends the user info of a URL whose authority starts at ``start``.

    The last ``@`` of the text that is followed by something host-like: a password's own ``@``,
    ``/``, ``?``, ``#`` or ``://`` never cut it short (a later URL is hidden too: too much is
    safer than too little). -1 when there is none.
    """
    stop = len(text)
    at = text.rfind("@", start)
    while at >= 0:
        host = _HOST_AFTER_AT.match(text, at + 1)
        end = host.end() if host else at + 1
        if end >= stop or text[end] in "/?#'\" \t\n,;)":
            return at
        at = text.rfind("@", start, at)
    return -1


def split_userinfo(url: str) -> tuple[str, str | None, str | None, str] | None:
    """``(scheme://, user, password, rest)`` of a URL with user info read safely, else None.

    User and password are as written (percent-encoded or not); ``rest`` starts at the host.
    """
    match = _SCHEME.match(url)
    if match is None:
        return None
    at = _userinfo_end(url, match.end())
    if at < 0:
        return None
    userinfo = url[match.end() : at]
    user, colon, password = userinfo.partition(":")
    return match.group(), user, (password if colon else None), url[at + 1 :]


def normalise_userinfo(url: str) -> str:
    """The URL with its user and password percent-encoded, so any parser reads them right.

    ``postgresql://u:p#/?@ss@host/db`` becomes ``postgresql://u:p%23%2F%3F%40ss@host/db``;
    already encoded parts stay as they are.
    """
    parts = split_userinfo(url)
    if parts is None:
        return url
    scheme, user, password, rest = parts
    userinfo = quote(unquote(user or ""), safe="")
    if password is not None:
        userinfo += ":" + quote(unquote(password), safe="")
    return f"{scheme}{userinfo}@{rest}"


def url_secrets(url: str) -> list[str]:
    """The passwords a URL or libpq string carries (user info, query, ``password=``), as written
    and decoded."""
    found: list[str] = []
    parts = split_userinfo(url)
    if parts is not None and parts[2]:
        found += [parts[2], unquote(parts[2])]
    if "://" in url and "?" in url:  # a query value runs to the next '&', spaces and all
        for pair in url.split("?", 1)[1].split("#", 1)[0].split("&"):
            key, _, value = pair.partition("=")
            if re.fullmatch(_SECRET_KEYS, key.strip(), re.IGNORECASE) and value:
                found += [value, unquote(value)]
    for match in _KEY_VALUE.finditer(url):
        value = match.group("value")
        if value[:1] in "'\"":
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
            found.append(re.sub(r"\\(.)", r"\1", value))
        found += [value, unquote(value)]
    return [s for s in dict.fromkeys(found) if s]


def _redact_userinfo(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _SCHEME.finditer(text):
        if match.start() < pos:
            continue
        at = _userinfo_end(text, match.end())
        if at < 0:
            continue
        user, colon, _ = text[match.end() : at].partition(":")
        if not colon:
            continue
        out.append(text[pos : match.end()] + f"{user}:{REDACTED}@")
        pos = at + 1
    out.append(text[pos:])
    return "".join(out)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential replaced by ``***``: safe for logs, errors and reprs.

    ``secrets`` are values to scrub besides those registered with :func:`register_secret`.
    """
    with _LOCK:
        known = _KNOWN.copy()
    known.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _redact_userinfo(text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact_url(url: str) -> str:
    """A URL (or libpq string) with its password replaced by ``***``; the rest stays as written."""
    return redact(url)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's text through :func:`redact` (attach it to a
    handler: whatever a library logs, no credential reaches the output)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: keep what we have
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True
