"""The chat platforms, faked on loopback for the channel tests: their documented webhook payloads
(the shapes of the platforms' own examples), signed the way each platform signs, and a fake of their
outbound APIs that records what the bot sent and can be told to fail or stall.

Imported as `platforms` (tests/conftest.py puts tests/ on sys.path).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TELEGRAM_TOKEN = "123456:TEST-telegram-token"
TELEGRAM_SECRET = "telegram-secret-token_1"
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the placeholder from Slack's docs
SLACK_BOT_TOKEN = "xoxb-test-token"
META_APP_SECRET = "meta-app-secret"
META_VERIFY_TOKEN = "meta-verify-token"
WHATSAPP_TOKEN = "whatsapp-access-token"
MESSENGER_TOKEN = "messenger-page-token"


# ---------------------------------------------------------------- payloads, as the platforms document them


def telegram_update(text: str, update_id: int = 10000, chat_id: int = 1111111, message_id: int = 1365) -> dict:
    """core.telegram.org/bots/webhooks, "Testing your bot with updates": a private-chat message."""
    person = {"last_name": "Test Lastname", "id": chat_id, "first_name": "Test Firstname", "username": "Testusername"}
    return {
        "update_id": update_id,
        "message": {
            "date": 1441645532,
            "chat": {**person, "type": "private"},
            "message_id": message_id,
            "from": {**person, "is_bot": False},
            "text": text,
        },
    }


def slack_message_event(text: str, event_id: str = "Ev08MFMKH6", ts: str = "1355517523.000005", user: str = "U2147483697",
                        channel: str = "C2147483705", **event: Any) -> dict:
    """api.slack.com/apis/events-api, "Callback field overview" with a message event."""
    return {
        "token": "XXYYZZ",
        "team_id": "T061EG9R6",
        "api_app_id": "A0PNCHHK2",
        "event": {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "channel_type": "channel", **event},
        "type": "event_callback",
        "authed_users": ["U0LAN0Z89"],
        "event_id": event_id,
        "event_time": 1355517523,
    }


def slack_url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> dict:
    return {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}


def _whatsapp_change(value: dict, phone_number_id: str = "106540352242922") -> dict:
    """The envelope every WhatsApp Cloud API webhook shares: one entry, one `messages` change."""
    metadata = {"display_phone_number": "15550783881", "phone_number_id": phone_number_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                                                         "field": "messages"}]}],
    }


def whatsapp_text(text: str, message_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                  wa_id: str = "16505551234", phone_number_id: str = "106540352242922") -> dict:
    """developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples, "Text messages"."""
    return _whatsapp_change({
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": message_id, "timestamp": "1749416383", "type": "text", "text": {"body": text}}],
    }, phone_number_id)


def whatsapp_status(message_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA") -> dict:
    """The same page, "Message status updates": a delivered receipt for one of our replies."""
    return _whatsapp_change({
        "statuses": [{
            "id": message_id, "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234",
            "conversation": {"id": "6ceb9d929c1a4ee3a6f2ac5bbbfe8a74", "origin": {"type": "service"}},
            "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
        }],
    })


def messenger_message(text: str, mid: str = "mid.1457764197618:41d102a3e1ae206a38", psid: str = "6789012345678901",
                      page_id: str = "1234567890", **message: Any) -> dict:
    """developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages, a text message."""
    return {
        "object": "page",
        "entry": [{
            "id": page_id,
            "time": 1458692752478,
            "messaging": [{
                "sender": {"id": psid},
                "recipient": {"id": page_id},
                "timestamp": 1458692752478,
                "message": {"mid": mid, "text": text, **message},
            }],
        }],
    }


# Rasa 3.x: what Rasa posts to an action server's /webhook.


def rasa_user_event(text: str, timestamp: float) -> dict:
    return {
        "event": "user",
        "timestamp": timestamp,
        "text": text,
        "parse_data": {"intent": {"name": "ask", "confidence": 0.9}, "entities": [], "text": text},
        "input_channel": "rest",
        "message_id": f"m{int(timestamp)}",
        "metadata": {},
    }


def rasa_action_call(action: str, text: str | None, *, sender: str = "rasa-user-1", earlier: tuple[str, ...] = ()) -> dict:
    """A request as Rasa 3.x posts it to the action endpoint."""
    events: list[dict] = [
        {"event": "action", "timestamp": 1.0, "name": "action_session_start", "policy": None, "confidence": 1.0},
        {"event": "session_started", "timestamp": 1.1},
        {"event": "action", "timestamp": 1.2, "name": "action_listen", "policy": None, "confidence": None},
    ]
    t = 2.0
    for said in earlier:
        events.append(rasa_user_event(said, t))
        events.append({"event": "bot", "timestamp": t + 0.5, "text": f"(reply to {said})", "data": {}, "metadata": {}})
        events.append({"event": "action", "timestamp": t + 0.6, "name": "action_listen", "policy": None, "confidence": None})
        t += 1
    latest: dict = {"intent": {"name": "ask", "confidence": 0.9}, "entities": []}
    if text is not None:
        latest["text"] = text
        events.append(rasa_user_event(text, t))
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.10.0",
        "tracker": {
            "sender_id": sender,
            "slots": {"kb_answer_found": None, "kb_confidence": None, "kb_source": None, "recommended_skus": None,
                      "handoff_requested": None, "session_started_metadata": None},
            "latest_message": latest,
            "latest_event_time": t,
            "followup_action": None,
            "paused": False,
            "events": events,
            "latest_input_channel": "rest",
            "latest_action_name": "action_listen",
            "latest_action": {"action_name": "action_listen"},
            "active_loop": {},
        },
        "domain": {
            "version": "3.1",
            "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
            "intents": ["ask", "recommend", "human"],
            "entities": [],
            "slots": {
                "kb_answer_found": {"type": "bool", "influence_conversation": False, "mappings": [{"type": "custom"}]},
                "kb_confidence": {"type": "float", "influence_conversation": False, "mappings": [{"type": "custom"}]},
                "kb_source": {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]},
                "recommended_skus": {"type": "list", "influence_conversation": False, "mappings": [{"type": "custom"}]},
                "handoff_requested": {"type": "bool", "influence_conversation": False, "mappings": [{"type": "custom"}]},
            },
            "responses": {"utter_greet": [{"text": "Hi!"}]},
            "actions": ["action_answer_from_knowledge_base", "action_recommend_products", "action_handoff_to_human"],
            "forms": {},
        },
    }


# ---------------------------------------------------------------- signing, as the platforms sign


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def slack_headers(body: bytes, timestamp: int | None = None, secret: str = SLACK_SIGNING_SECRET) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


def meta_headers(body: bytes, secret: str = META_APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def telegram_headers(secret: str = TELEGRAM_SECRET) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}


# ---------------------------------------------------------------- the platforms' outbound APIs


@dataclass
class Call:
    api: str  # telegram, slack, whatsapp, messenger
    path: str
    headers: dict[str, str]
    json: dict[str, Any]


@dataclass
class FakePlatformAPI:
    """Serves Telegram's sendMessage, Slack's chat.postMessage and the Graph API's messages endpoints on
    127.0.0.1, records each call, and answers as the real APIs do (including their error shapes).

    `fail_next` answers the next N calls with `fail_status`; `stall_seconds` delays every answer."""

    calls: list[Call] = field(default_factory=list)
    received: int = 0  # every request, answered or not
    failed: int = 0
    fail_next: int = 0
    fail_status: int = 503
    stall_seconds: float = 0.0
    url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> "FakePlatformAPI":
        app = web.Application()
        app.router.add_post("/telegram/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/slack/chat.postMessage", self._slack)
        app.router.add_post("/graph/me/messages", self._messenger)
        app.router.add_post("/graph/{phone_number_id}/messages", self._whatsapp)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, Any]:
        """Settings that enable every channel against this fake."""
        return {
            "telegram_bot_token": TELEGRAM_TOKEN, "telegram_secret_token": TELEGRAM_SECRET, "telegram_api_url": f"{self.url}/telegram",
            "slack_signing_secret": SLACK_SIGNING_SECRET, "slack_bot_token": SLACK_BOT_TOKEN, "slack_api_url": f"{self.url}/slack",
            "meta_app_secret": META_APP_SECRET, "meta_verify_token": META_VERIFY_TOKEN, "whatsapp_access_token": WHATSAPP_TOKEN,
            "messenger_page_access_token": MESSENGER_TOKEN, "meta_graph_url": f"{self.url}/graph",
        }

    async def wait_for_calls(self, count: int, timeout: float = 30.0) -> list[Call]:
        async def enough() -> None:
            while len(self.calls) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.calls

    async def _answer(self, request: web.Request, api: str, ok: dict, error: tuple[dict, dict[str, str]]) -> web.Response:
        self.received += 1
        payload = await request.json()
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failed += 1
            body, headers = error
            return web.json_response(body, status=self.fail_status, headers=headers)
        self.calls.append(Call(api, request.path, dict(request.headers), payload))
        self._arrived.set()
        return web.json_response(ok)

    async def _telegram(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TELEGRAM_TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        error = {"ok": False, "error_code": self.fail_status, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}
        return await self._answer(request, "telegram", {"ok": True, "result": {"message_id": len(self.calls) + 1}}, (error, {}))

    async def _slack(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {SLACK_BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})  # Slack answers 200 with ok: false
        return await self._answer(request, "slack", {"ok": True, "channel": "C2147483705", "ts": f"{time.time():.6f}"},
                                  ({"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))

    def _graph_error(self) -> tuple[dict, dict[str, str]]:
        return {"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}}, {}

    async def _whatsapp(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return web.json_response({"error": {"message": "Invalid OAuth access token", "code": 190}}, status=401)
        ok = {"messaging_product": "whatsapp", "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
              "messages": [{"id": f"wamid.sent{len(self.calls)}"}]}
        return await self._answer(request, "whatsapp", ok, self._graph_error())

    async def _messenger(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {MESSENGER_TOKEN}":
            return web.json_response({"error": {"message": "Invalid OAuth access token", "code": 190}}, status=401)
        ok = {"recipient_id": "6789012345678901", "message_id": f"m_sent{len(self.calls)}"}
        return await self._answer(request, "messenger", ok, self._graph_error())
