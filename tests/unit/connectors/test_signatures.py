"""Signature checks, against the platforms' own published examples where they publish one."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from connectors.signatures import MetaSignatureVerifier, SecretTokenVerifier, SlackSignatureVerifier, verify_subscription
from core.errors import Forbidden, Unauthorized

# api.slack.com/authentication/verifying-requests-from-slack: the worked example (a slash command body).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack(now: float = SLACK_TIMESTAMP + 30) -> SlackSignatureVerifier:
    return SlackSignatureVerifier(SLACK_SECRET, clock=lambda: now)


def test_slack_published_example_verifies():
    assert slack().sign(SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE
    slack().verify({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": SLACK_SIGNATURE}, SLACK_BODY)


@pytest.mark.parametrize(
    "headers, body, now, error, words",
    [
        ({}, SLACK_BODY, SLACK_TIMESTAMP, Unauthorized, "missing"),
        ({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP)}, SLACK_BODY, SLACK_TIMESTAMP, Unauthorized, "missing"),
        ({"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": SLACK_SIGNATURE}, SLACK_BODY, SLACK_TIMESTAMP, Forbidden, "Unix time"),
        ({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": "v0=" + "0" * 64}, SLACK_BODY, SLACK_TIMESTAMP, Forbidden, "does not match"),
        ({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": SLACK_SIGNATURE}, SLACK_BODY + b"&x=1", SLACK_TIMESTAMP, Forbidden, "does not match"),
        # the replay window: 5 minutes either way
        ({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": SLACK_SIGNATURE}, SLACK_BODY, SLACK_TIMESTAMP + 301, Forbidden, "replayed"),
        ({"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": SLACK_SIGNATURE}, SLACK_BODY, SLACK_TIMESTAMP - 301, Forbidden, "replayed"),
    ],
)
def test_slack_refuses(headers, body, now, error, words):
    with pytest.raises(error, match=words):
        slack(now).verify(headers, body)


def test_slack_window_edges_are_inclusive():
    headers = {"X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP), "X-Slack-Signature": SLACK_SIGNATURE}
    slack(SLACK_TIMESTAMP + 300).verify(headers, SLACK_BODY)
    slack(SLACK_TIMESTAMP - 300).verify(headers, SLACK_BODY)


def test_meta_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"object":"page","entry":[]}'
    expected = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    verifier = MetaSignatureVerifier("app-secret")
    assert verifier.sign(body) == expected
    verifier.verify({"X-Hub-Signature-256": expected}, body)
    with pytest.raises(Unauthorized):
        verifier.verify({}, body)
    with pytest.raises(Forbidden):
        verifier.verify({"X-Hub-Signature-256": expected}, body + b" ")
    with pytest.raises(Forbidden):  # the legacy SHA-1 header format is not accepted in its place
        verifier.verify({"X-Hub-Signature-256": "sha1=" + hmac.new(b"app-secret", body, hashlib.sha1).hexdigest()}, body)


def test_telegram_secret_token():
    verifier = SecretTokenVerifier("s3cr3t_token-1")
    verifier.verify({"X-Telegram-Bot-Api-Secret-Token": "s3cr3t_token-1"}, b"")
    with pytest.raises(Unauthorized):
        verifier.verify({}, b"")
    with pytest.raises(Forbidden):
        verifier.verify({"X-Telegram-Bot-Api-Secret-Token": "s3cr3t_token-2"}, b"")
    with pytest.raises(Forbidden):  # non-ASCII junk is compared, not crashed on
        verifier.verify({"X-Telegram-Bot-Api-Secret-Token": "s3cr3t_tökén"}, b"")


def test_verifiers_refuse_to_exist_without_a_secret():
    for make in (lambda: SecretTokenVerifier(""), lambda: SlackSignatureVerifier(""), lambda: MetaSignatureVerifier("")):
        with pytest.raises(ValueError):
            make()


def test_meta_subscription_handshake():
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert verify_subscription(query, "tok") == "1158201444"
    for bad in ({**query, "hub.verify_token": "nope"}, {**query, "hub.mode": "unsubscribe"}, {"hub.mode": "subscribe", "hub.verify_token": "tok"}):
        with pytest.raises(Forbidden):
            verify_subscription(bad, "tok")
