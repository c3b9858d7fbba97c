"""Widget sessions: issued and signed by the server, expiring, bound to an origin."""

from __future__ import annotations

import pytest

from connectors.sessions import SessionSigner, load_or_create_secret
from core.errors import ConfigurationError, Unauthorized

SECRET = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_verifies_on_its_origin_until_it_expires():
    clock = Clock()
    signer = SessionSigner(SECRET, ttl_seconds=60, clock=clock)
    session, token = signer.issue("https://shop.example")
    assert signer.verify(token, "https://shop.example") == session
    clock.now += 61
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, "https://shop.example")


def test_another_origin_another_secret_or_an_edited_token_is_refused():
    signer = SessionSigner(SECRET, ttl_seconds=60)
    _, token = signer.issue("https://shop.example")
    with pytest.raises(Unauthorized, match="origin"):
        signer.verify(token, "https://evil.example")
    with pytest.raises(Unauthorized, match="signature"):
        SessionSigner(b"another secret of enough length", 60).verify(token, "https://shop.example")
    version, payload, signature = token.split(".")
    with pytest.raises(Unauthorized, match="signature"):
        signer.verify(f"{version}.{payload[:-2]}AA.{signature}", "https://shop.example")
    for garbage in ("", "v1.x", "v2.a.b", "x" * 600):
        with pytest.raises(Unauthorized, match="malformed"):
            signer.verify(garbage, "https://shop.example")


def test_renewing_keeps_the_session_id_and_new_ones_differ():
    signer = SessionSigner(SECRET, ttl_seconds=60)
    first, _ = signer.issue("")
    renewed, _ = signer.issue("", first.session_id)
    other, _ = signer.issue("")
    assert renewed.session_id == first.session_id and other.session_id != first.session_id


def test_a_short_secret_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        SessionSigner(b"short", 60)


def test_the_generated_secret_is_kept_private_and_reused(tmp_path):
    path = tmp_path / "session-secret"
    secret = load_or_create_secret("", path)
    assert len(secret) == 32 and load_or_create_secret("", path) == secret
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret("configured secret", path) == b"configured secret"
