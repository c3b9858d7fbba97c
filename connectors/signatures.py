"""Webhook signature checks. Each one looks at headers and the raw body only, runs before anything
is parsed, and compares in constant time. A missing credential is 401; a wrong or stale one is 403."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Callable, Mapping

from core.errors import Forbidden, Unauthorized


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


class SecretTokenVerifier:
    """Telegram's scheme: the secret given to setWebhook comes back verbatim in a header."""

    def __init__(self, secret: str, header: str = "X-Telegram-Bot-Api-Secret-Token") -> None:
        if not secret:
            raise ValueError("a secret token is required")
        self.secret = secret
        self.header = header

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get(self.header)
        if not given:
            raise Unauthorized(f"missing {self.header} header")
        if not _equal(given, self.secret):
            raise Forbidden(f"{self.header} does not match")


class SlackSignatureVerifier:
    """Slack's v0 scheme: HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the signing secret, in
    X-Slack-Signature; requests whose X-Slack-Request-Timestamp is more than `window` seconds away
    from `clock()` are refused, so a captured request cannot be replayed later."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time, window: float = 300.0) -> None:
        if not signing_secret:
            raise ValueError("a signing secret is required")
        self._key = signing_secret.encode("utf-8")
        self.clock = clock
        self.window = window

    def sign(self, timestamp: str | int, body: bytes) -> str:
        base = b"v0:" + str(timestamp).encode("ascii") + b":" + body
        return "v0=" + hmac.new(self._key, base, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if not timestamp or not signature:
            raise Unauthorized("missing X-Slack-Request-Timestamp or X-Slack-Signature header")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise Forbidden("X-Slack-Request-Timestamp is not a Unix time") from None
        if abs(self.clock() - sent_at) > self.window:
            raise Forbidden(f"request timestamp is more than {self.window:.0f} s away from now (replayed or clock skew)")
        if not _equal(signature, self.sign(timestamp, body)):
            raise Forbidden("X-Slack-Signature does not match the body")


class MetaSignatureVerifier:
    """Meta's scheme (WhatsApp Cloud API, Messenger): X-Hub-Signature-256 is "sha256=" + the
    HMAC-SHA256 of the raw body keyed with the app secret."""

    header = "X-Hub-Signature-256"

    def __init__(self, app_secret: str) -> None:
        if not app_secret:
            raise ValueError("an app secret is required")
        self._key = app_secret.encode("utf-8")

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get(self.header)
        if not given:
            raise Unauthorized(f"missing {self.header} header")
        if not _equal(given, self.sign(body)):
            raise Forbidden(f"{self.header} does not match the body")


def verify_subscription(query: Mapping[str, str], verify_token: str) -> str:
    """Meta's webhook set-up handshake: hub.mode=subscribe with our verify token; echo hub.challenge."""
    if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
        raise Forbidden("expected hub.mode=subscribe with hub.challenge")
    if not _equal(query.get("hub.verify_token", ""), verify_token):
        raise Forbidden("hub.verify_token does not match")
    return query["hub.challenge"]
