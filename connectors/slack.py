"""Slack Events API: signed event callbacks in, chat.postMessage (in the message's thread) out."""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Mapping

from connectors.base import InboundMessage, WebhookResult, require_str
from connectors.outbound import DeliveryFailed, PlatformClient
from connectors.signatures import SlackSignatureVerifier
from core.errors import BadRequest

_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>\s*")
# Message subtypes that still carry a person's words; every other subtype (edits, deletions,
# joins, bot_message...) is not a question for the bot.
_USER_SUBTYPES = {None, "thread_broadcast", "file_share"}
# chat.postMessage errors that go away if we wait (the rest: a bad token, an unknown channel).
_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackConnector:
    name = "slack"
    path = "/webhooks/slack/events"
    text_limit = 4000  # Slack truncates at 40,000; it recommends staying under 4,000

    def __init__(
        self,
        signing_secret: str,
        bot_token: str,
        api_url: str = "https://slack.com/api",
        clock: Callable[[], float] = time.time,
        bot_user_id: str = "",
    ) -> None:
        self.verifier = SlackSignatureVerifier(signing_secret, clock=clock)
        self._bot_token = bot_token
        self._post_url = f"{api_url.rstrip('/')}/chat.postMessage"
        self.bot_user_id = bot_user_id

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        self.verifier.verify(headers, body)

    def parse(self, payload: dict[str, Any]) -> WebhookResult:
        kind = payload.get("type")
        if kind == "url_verification":
            return WebhookResult(challenge=require_str(payload, "challenge", "body"))
        if kind != "event_callback":
            return WebhookResult(ignored=(f"payload type {kind!r}",))
        event_id = require_str(payload, "event_id", "body")
        event = payload.get("event")
        if not isinstance(event, dict):
            raise BadRequest("body.event must be an object")
        event_type = event.get("type")
        if event_type not in ("message", "app_mention"):
            return WebhookResult(ignored=(f"event {event_id} is a {event_type!r} event",))
        if event.get("bot_id") or event.get("subtype") not in _USER_SUBTYPES:
            # Our own replies come back as message events: answering them would loop forever.
            return WebhookResult(ignored=(f"event {event_id} is not a person's message",))
        user = require_str(event, "user", "event")
        if self.bot_user_id and user == self.bot_user_id:
            return WebhookResult(ignored=(f"event {event_id} is the bot's own message",))
        channel = require_str(event, "channel", "event")
        ts = require_str(event, "ts", "event")
        text = _MENTION.sub("", event.get("text") or "").strip()
        if not text:
            return WebhookResult(ignored=(f"event {event_id} has no text",))
        team = payload.get("team_id") or event.get("team") or "team"
        # Replies go in the thread; a direct message gets a thread only when the customer started one.
        thread_ts = event.get("thread_ts") or (None if event.get("channel_type") == "im" else ts)
        address = {"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})}
        # A retry repeats the event_id; a mention subscribed as both `message` and `app_mention`
        # arrives as two events about one message (same channel and ts): either way, answer once.
        keys = (f"event:{event_id}", f"message:{channel}:{ts}")
        return WebhookResult(messages=(InboundMessage(self.name, f"{team}:{user}", text, keys, address),))

    async def send(self, client: PlatformClient, address: Mapping[str, Any], text: str) -> None:
        payload = {"channel": address["channel"], "text": text, **({"thread_ts": address["thread_ts"]} if address.get("thread_ts") else {})}
        answer = await client.post_json(
            "slack chat.postMessage", self._post_url, payload,
            headers={"Authorization": f"Bearer {self._bot_token}", "Content-Type": "application/json; charset=utf-8"},
        )
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else str(answer)[:200]
            raise DeliveryFailed(f"slack chat.postMessage: {error}", retryable=error in _TRANSIENT_ERRORS)
