"""Server side of HTTP Digest authentication (RFC 7616 subset): MD5, qop ``auth``.

The nonce store is shared by all the simulated servers (they are one cloud), so a client that keeps
its last challenge when it follows the asn to another host is accepted, as it is by the real cloud.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from urllib.request import parse_http_list, parse_keqv_list

__all__ = ["REALM", "DigestVerifier"]

REALM = "MyEnergi Telemetry"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class DigestVerifier:
    """Issues challenges and verifies ``Authorization: Digest ...`` headers; thread-safe."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        nonce_ttl_s: float | None = None,
        max_nonces: int = 4096,
    ) -> None:
        self._username = username
        self._ha1 = _md5(f"{username}:{REALM}:{password}")
        self._opaque = secrets.token_hex(16)
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._ttl = nonce_ttl_s
        self._max = max_nonces
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DigestVerifier(username={self._username!r}, realm={REALM!r})"

    def challenge(self) -> str:
        """A fresh ``WWW-Authenticate`` value (the nonce is remembered)."""
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces[nonce] = time.monotonic()
            while len(self._nonces) > self._max:
                self._nonces.popitem(last=False)
        return (
            f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", '
            f'opaque="{self._opaque}", algorithm=MD5'
        )

    def _known(self, nonce: str) -> bool:
        with self._lock:
            issued = self._nonces.get(nonce)
        if issued is None:
            return False
        return self._ttl is None or time.monotonic() - issued <= self._ttl

    def verify(self, method: str, uri: str, header: str | None) -> bool:
        """True when ``header`` answers one of our nonces for this method and request target."""
        if not header:
            return False
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return False
        try:
            fields = parse_keqv_list(parse_http_list(rest))
        except ValueError:
            return False
        required = ("username", "realm", "nonce", "uri", "response")
        if any(key not in fields for key in required):
            return False
        if fields["username"] != self._username or fields["realm"] != REALM:
            return False
        if fields["uri"] != uri or not self._known(fields["nonce"]):
            return False
        if fields.get("algorithm", "MD5").upper() != "MD5":
            return False
        ha2 = _md5(f"{method}:{uri}")
        qop = fields.get("qop")
        if qop is None:
            expected = _md5(f"{self._ha1}:{fields['nonce']}:{ha2}")
        elif qop == "auth" and "nc" in fields and "cnonce" in fields:
            expected = _md5(
                f"{self._ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}"
            )
        else:
            return False
        return hmac.compare_digest(expected, fields["response"].lower())
