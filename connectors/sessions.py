"""Widget sessions the server issues: signed, expiring, bound to the page's origin.

A token is `v1.<payload>.<signature>`: the payload (base64url JSON) names a random session id, its
expiry and the Origin it was issued to; the signature is HMAC-SHA256 under the server's secret,
compared in constant time. A client cannot choose or forge a session, so it cannot pick another
customer's conversation; a token taken to another site's page fails the origin check. The clock is
injected (tests move it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import ConfigurationError, Unauthorized

VERSION = "v1"
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    expires_at: float
    origin: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ConfigurationError("the session secret must be at least 16 bytes")
        self.secret = secret
        self.ttl = ttl_seconds
        self.clock = clock

    def issue(self, origin: str, session_id: str | None = None) -> tuple[Session, str]:
        """A new session (or `session_id`'s, renewed) for a page on `origin`, and its token."""
        session = Session(session_id or secrets.token_urlsafe(18), self.clock() + self.ttl, origin)
        payload = _b64(json.dumps({"sid": session.session_id, "exp": round(session.expires_at), "org": origin},
                                  separators=(",", ":")).encode())
        return session, f"{VERSION}.{payload}.{self._sign(payload)}"

    def verify(self, token: str, origin: str) -> Session:
        """The session `token` carries, or Unauthorized (malformed, forged, expired, other origin)."""
        parts = token.split(".") if isinstance(token, str) and len(token) <= 512 else []
        if len(parts) != 3 or parts[0] != VERSION:
            raise Unauthorized("the session token is malformed")
        _, payload, signature = parts
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise Unauthorized("the session token's signature does not match")
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["sid"]), float(data["exp"]), str(data["org"]))
        except (ValueError, KeyError, TypeError):
            raise Unauthorized("the session token is malformed") from None
        if session.expires_at <= self.clock():
            raise Unauthorized("the session has expired")
        if not hmac.compare_digest(session.origin.encode(), origin.encode()):
            raise Unauthorized("the session was issued to another origin")
        return session

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, f"{VERSION}.{payload}".encode(), hashlib.sha256).digest())


def load_or_create_secret(configured: str, path: Path) -> bytes:
    """The configured secret, else the one kept at `path` (created once, readable by this user only),
    so that sessions survive restarts without anyone having to set one."""
    if configured:
        return configured.encode()
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except ValueError:
        raise ConfigurationError(f"the session secret in {path} is not hex; delete it to make a new one", path=str(path)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret.hex())
    partial.replace(path)
    return secret
