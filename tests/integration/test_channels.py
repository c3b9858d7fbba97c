"""Every chat channel through the real server: documented platform payloads, signed as each platform
signs them, answered by the real pipeline (MiniLM, FAISS, BM25, the shipped intent model, SQLite), and
sent to a loopback fake of the platform's API that records what the bot sent."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from platforms import (
    MESSENGER_TOKEN,
    META_VERIFY_TOKEN,
    SLACK_BOT_TOKEN,
    WHATSAPP_TOKEN,
    Call,
    FakePlatformAPI,
    body_of,
    messenger_message,
    meta_headers,
    slack_headers,
    slack_message_event,
    slack_url_verification,
    telegram_headers,
    telegram_update,
    whatsapp_status,
    whatsapp_text,
)

from bot.app_state import STORE
from bot.server import create_app
from connectors.webhooks import CHANNEL_DISPATCHER
from core.settings import Settings

pytestmark = pytest.mark.integration
QUESTION = "How many days do I have to return an item?"


@dataclass(frozen=True)
class Channel:
    name: str
    path: str
    payload: Callable[[str, int], dict]  # (text, n): delivery number n of a test has its own platform ids
    sign: Callable[[bytes], dict[str, str]]
    forge: Callable[[bytes], dict[str, str]]  # a signature made with the wrong secret
    sent_text: Callable[[Call], str]
    sender: str  # our conversation key for the documented payload's customer
    check_address: Callable[[Call], None]


def _telegram_address(call: Call) -> None:
    assert call.path == "/telegram/bot123456:TEST-telegram-token/sendMessage" and call.json["chat_id"] == 1111111


def _slack_address(call: Call) -> None:
    assert call.headers["Authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert call.json["channel"] == "C2147483705" and call.json["thread_ts"].startswith("1355517523.")


def _whatsapp_address(call: Call) -> None:
    assert call.path == "/graph/106540352242922/messages" and call.headers["Authorization"] == f"Bearer {WHATSAPP_TOKEN}"
    assert call.json["to"] == "16505551234" and call.json["messaging_product"] == "whatsapp" and call.json["type"] == "text"


def _messenger_address(call: Call) -> None:
    assert call.path == "/graph/me/messages" and call.headers["Authorization"] == f"Bearer {MESSENGER_TOKEN}"
    assert call.json["recipient"] == {"id": "6789012345678901"} and call.json["messaging_type"] == "RESPONSE"


CHANNELS = [
    Channel("telegram", "/webhooks/telegram", lambda text, n: telegram_update(text, update_id=10000 + n, message_id=1365 + n),
            lambda body: telegram_headers(), lambda body: telegram_headers("not-the-secret"),
            lambda call: call.json["text"], "1111111", _telegram_address),
    Channel("slack", "/webhooks/slack/events", lambda text, n: slack_message_event(text, event_id=f"Ev{n:08d}", ts=f"1355517523.{n:06d}"),
            slack_headers, lambda body: slack_headers(body, secret="not-the-secret"),
            lambda call: call.json["text"], "T061EG9R6:U2147483697", _slack_address),
    Channel("whatsapp", "/webhooks/whatsapp", lambda text, n: whatsapp_text(text, message_id=f"wamid.test{n}"),
            meta_headers, lambda body: meta_headers(body, secret="not-the-secret"),
            lambda call: call.json["text"]["body"], "16505551234", _whatsapp_address),
    Channel("messenger", "/webhooks/messenger", lambda text, n: messenger_message(text, mid=f"mid.test{n}"),
            meta_headers, lambda body: meta_headers(body, secret="not-the-secret"),
            lambda call: call.json["message"]["text"], "6789012345678901", _messenger_address),
]
BY_NAME = {c.name: c for c in CHANNELS}


@pytest.fixture
async def platform():
    api = await FakePlatformAPI().start()
    yield api
    await api.stop()


@pytest.fixture
def settings(data_dir, platform) -> Settings:
    # Fast retries and a short send timeout so outages resolve within a test.
    return Settings(data_dir=data_dir, channel_retry_seconds=0.2, channel_send_timeout_seconds=0.5, channel_send_attempts=2,
                    **platform.settings())


@pytest.fixture
async def client(aiohttp_client, settings, sample_answerer, sample_intents):
    return await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))


async def deliver(client, channel: Channel, payload: Any, headers: dict[str, str] | None = None, **extra_headers: str):
    body = body_of(payload)
    return await client.post(channel.path, data=body, headers={**(channel.sign(body) if headers is None else headers), **extra_headers})


async def stored_turns(client, channel: str, sender: str) -> list:
    store = client.app[STORE]
    conversation = await store.conversation_for(channel, sender)
    return await store.history(conversation.conversation_id)


# ---------------------------------------------------------------- the three "done when" cases, per channel


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_a_signed_message_is_answered_through_the_platform_api(client, platform, channel):
    response = await deliver(client, channel, channel.payload(QUESTION, 1))
    assert response.status == 200, await response.text()
    assert (await response.json())["accepted"] == 1

    [call] = await platform.wait_for_calls(1)
    assert call.api == channel.name
    channel.check_address(call)
    text = channel.sent_text(call)
    assert "30 days" in text and "Source:" in text

    turns = await stored_turns(client, channel.name, channel.sender)
    assert [t.role for t in turns] == ["customer", "bot"] and turns[0].text == QUESTION
    [delivery] = await client.app[CHANNEL_DISPATCHER].deliveries.all(channel.name)
    assert delivery.status == "sent" and delivery.reply == text


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_stored(client, platform, channel):
    payload = channel.payload(QUESTION, 2)
    body = body_of(payload)
    forged = await deliver(client, channel, payload, headers=channel.forge(body))
    assert forged.status == 403
    unsigned = await deliver(client, channel, payload, headers={"Content-Type": "application/json"})
    assert unsigned.status == 401
    if channel.name != "telegram":  # Telegram's secret token does not cover the body
        # A correct signature over a different body is no signature at all.
        tampered = await client.post(channel.path, data=body_of(channel.payload("Give me a refund now", 2)), headers=channel.sign(body))
        assert tampered.status == 403

    await client.app[CHANNEL_DISPATCHER].drain()
    assert await client.app[CHANNEL_DISPATCHER].deliveries.all() == []
    assert await stored_turns(client, channel.name, channel.sender) == []
    assert platform.calls == []


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_a_retried_delivery_is_answered_once(client, platform, channel):
    payload = channel.payload(QUESTION, 3)
    first = await deliver(client, channel, payload)
    # Slack marks its retries; the others just send the same body again.
    again = await deliver(client, channel, payload, **({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
                                                        if channel.name == "slack" else {}))
    assert (await first.json())["accepted"] == 1
    assert again.status == 200 and (await again.json()) == {"ok": True, "accepted": 0, "duplicates": 1, "ignored": 0}

    await client.app[CHANNEL_DISPATCHER].drain()
    assert len(platform.calls) == 1
    assert [t.role for t in await stored_turns(client, channel.name, channel.sender)] == ["customer", "bot"]


# ---------------------------------------------------------------- bad input, per channel


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_bad_bodies_get_clear_errors(client, platform, channel):
    huge = body_of(channel.payload("x" * 70_000, 4))
    assert (await client.post(channel.path, data=huge, headers=channel.sign(huge))).status == 413

    body = body_of(channel.payload(QUESTION, 5))
    wrong_type = await client.post(channel.path, data=body, headers={**channel.sign(body), "Content-Type": "text/plain"})
    assert wrong_type.status == 415

    for not_an_object in (b"[1, 2, 3]", b'"text"', b"{not json"):
        response = await client.post(channel.path, data=not_an_object, headers=channel.sign(not_an_object))
        assert response.status == 400, not_an_object
        assert (await response.json())["error"] == "bad_request"

    await client.app[CHANNEL_DISPATCHER].drain()
    assert platform.calls == []


@pytest.mark.parametrize(
    "channel, payload",
    [
        ("telegram", {"message": {"text": "hi", "chat": {"id": 1}}}),  # no update_id
        ("telegram", {"update_id": 7, "message": {"text": "hi"}}),  # no chat
        ("slack", {"type": "event_callback", "event": {"type": "message", "text": "hi"}}),  # no event_id
        ("slack", {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "text": "hi", "ts": "1.2"}}),  # no user
        ("whatsapp", {"object": "whatsapp_business_account", "entry": "nope"}),
        ("whatsapp", {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
            "messages": [{"type": "text", "text": {"body": "hi"}}]}}]}]}),  # no from, id, phone_number_id
        ("messenger", {"object": "page", "entry": [{"messaging": [{"message": {"text": "hi"}}]}]}),  # no sender, mid
    ],
)
async def test_missing_fields_are_a_400_that_names_them(client, platform, channel, payload):
    response = await deliver(client, BY_NAME[channel], payload)
    assert response.status == 400
    assert (await response.json())["message"]


# ---------------------------------------------------------------- what each platform sends that is not a question


async def test_telegram_updates_without_a_text_message_are_acknowledged_and_ignored(client, platform):
    channel = BY_NAME["telegram"]
    edited = {"update_id": 20001, "edited_message": telegram_update("edited", 20001)["message"]}
    sticker = telegram_update("", 20002)
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "CAACAgIAAxkBAAE", "emoji": "👍"}
    for update in (edited, sticker, {"update_id": 20003, "callback_query": {"id": "4382bfdwdsb323b2d9", "data": "x"}}):
        response = await deliver(client, channel, update)
        assert response.status == 200 and (await response.json())["ignored"] == 1

    # Opening the bot sends /start: it is greeted.
    await deliver(client, channel, telegram_update("/start", 20004))
    [call] = await platform.wait_for_calls(1)
    assert call.json["text"].startswith("Hi!")


async def test_slack_handshake_bots_mentions_threads_and_replays(client, platform):
    channel = BY_NAME["slack"]
    verification = await deliver(client, channel, slack_url_verification())
    assert verification.status == 200 and await verification.text() == slack_url_verification()["challenge"]

    bot_echo = slack_message_event("You have 30 days...", event_id="EvBOT", ts="1355517600.000001", bot_id="B123", subtype="bot_message")
    assert (await (await deliver(client, channel, bot_echo)).json())["ignored"] == 1
    edit = slack_message_event("edited", event_id="EvEDIT", ts="1355517600.000002", subtype="message_changed")
    assert (await (await deliver(client, channel, edit)).json())["ignored"] == 1

    # A mention arrives twice when the app subscribes to both message and app_mention: answered once.
    in_thread = dict(thread_ts="1355517500.000100")
    mention = slack_message_event(f"<@U0LAN0Z89> {QUESTION}", event_id="EvMENTION1", ts="1355517601.000001", **in_thread)
    app_mention = slack_message_event(f"<@U0LAN0Z89> {QUESTION}", event_id="EvMENTION2", ts="1355517601.000001", **in_thread)
    app_mention["event"]["type"] = "app_mention"
    assert (await (await deliver(client, channel, mention)).json())["accepted"] == 1
    assert (await (await deliver(client, channel, app_mention)).json())["duplicates"] == 1
    [call] = await platform.wait_for_calls(1)
    assert call.json["thread_ts"] == "1355517500.000100" and "30 days" in call.json["text"]

    # A correctly signed request captured and replayed ten minutes later is refused.
    body = body_of(slack_message_event(QUESTION, event_id="EvOLD", ts="1355517700.000001"))
    stale = await client.post(channel.path, data=body, headers=slack_headers(body, timestamp=int(time.time()) - 600))
    assert stale.status == 403 and "replayed" in (await stale.json())["message"]
    await client.app[CHANNEL_DISPATCHER].drain()
    assert len(platform.calls) == 1


@pytest.mark.parametrize("name", ["whatsapp", "messenger"])
async def test_meta_subscription_handshake(client, name):
    path = BY_NAME[name].path
    ok = await client.get(path, params={"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    wrong = await client.get(path, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"})
    assert wrong.status == 403
    assert (await client.get(path)).status == 403


async def test_whatsapp_statuses_and_messenger_echoes_are_ignored(client, platform):
    status = await deliver(client, BY_NAME["whatsapp"], whatsapp_status())
    assert status.status == 200 and (await status.json())["ignored"] == 1
    echo = messenger_message("You have 30 days...", mid="mid.echo1", is_echo=True, app_id=1517776481860111)
    assert (await (await deliver(client, BY_NAME["messenger"], echo)).json())["ignored"] == 1
    read = messenger_message("x")
    read["entry"][0]["messaging"][0] = {"sender": {"id": "6789012345678901"}, "recipient": {"id": "1234567890"},
                                        "timestamp": 1458668856463, "read": {"watermark": 1458668856253}}
    assert (await (await deliver(client, BY_NAME["messenger"], read)).json())["ignored"] == 1
    await client.app[CHANNEL_DISPATCHER].drain()
    assert platform.calls == []


# ---------------------------------------------------------------- a platform that is down or slow


async def test_a_platform_that_is_down_gets_the_reply_later_and_the_server_stays_responsive(client, platform):
    channel = BY_NAME["whatsapp"]
    # Each send makes 2 attempts: the first send and the first background retry fail, the second retry works.
    platform.fail_next = 5
    await deliver(client, channel, channel.payload(QUESTION, 6))
    started = time.perf_counter()
    health = await client.get("/health")
    assert health.status == 200 and time.perf_counter() - started < 2.0

    [call] = await platform.wait_for_calls(1, timeout=30)
    assert "30 days" in channel.sent_text(call) and platform.failed == 5
    [delivery] = await client.app[CHANNEL_DISPATCHER].deliveries.all("whatsapp")
    assert delivery.status == "sent" and delivery.attempts == 2 and "HTTP 503" in delivery.last_error
    # The customer's message was kept from the start.
    assert [t.role for t in await stored_turns(client, "whatsapp", channel.sender)] == ["customer", "bot"]


async def test_a_reply_whose_retries_run_out_waits_as_a_dead_letter_and_is_sent_when_the_platform_is_back(
        aiohttp_client, data_dir, platform, sample_answerer, sample_intents):
    # Seen: a channel reply that exhausted its retries was marked failed and never sent, even after
    # the platform recovered.
    settings = Settings(data_dir=data_dir, channel_retry_seconds=0.1, channel_send_timeout_seconds=0.5, channel_send_attempts=1,
                        channel_delivery_max_attempts=2, **platform.settings())
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))
    channel = BY_NAME["telegram"]
    platform.fail_next = 2  # the first send and its one retry
    await deliver(client, channel, channel.payload(QUESTION, 1))
    dispatcher = client.app[CHANNEL_DISPATCHER]
    for _ in range(200):
        if await dispatcher.deliveries.dead():
            break
        await asyncio.sleep(0.05)
    [dead] = await dispatcher.deliveries.dead()
    assert (await (await client.get("/health")).json())["dead_letters"] == 1
    listed = (await (await client.get("/api/deliveries?status=dead")).json())["deliveries"]
    assert [d["delivery_id"] for d in listed] == [dead.delivery_id] and "503" in listed[0]["last_error"]

    # The platform answers again: the next reply gets through, and the dead letter goes with it.
    await deliver(client, channel, channel.payload("Can I pay with PayPal?", 2))
    calls = await platform.wait_for_calls(2, timeout=30)
    texts = [channel.sent_text(c) for c in calls]
    assert any("30 days" in t for t in texts) and any("PayPal" in t for t in texts)
    assert await dispatcher.deliveries.dead() == []
    assert (await (await client.get("/health")).json())["dead_letters"] == 0


async def test_a_slow_platform_times_out_without_stalling_other_customers(client, platform):
    platform.stall_seconds = 3.0  # longer than the 0.5 s send timeout
    slack, telegram = BY_NAME["slack"], BY_NAME["telegram"]
    await deliver(client, slack, slack.payload(QUESTION, 7))
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    rest = await client.post("/webhooks/rest/webhook", json={"sender": "someone-else", "message": QUESTION})
    assert rest.status == 200 and "30 days" in (await rest.json())[0]["text"]
    assert time.perf_counter() - started < 2.0
    [slack_delivery] = await client.app[CHANNEL_DISPATCHER].deliveries.all("slack")
    assert slack_delivery.status == "answered"  # answered and kept, its send still pending

    platform.stall_seconds = 0.0
    await deliver(client, telegram, telegram.payload(QUESTION, 8))
    calls = await platform.wait_for_calls(2, timeout=30)
    assert sorted(c.api for c in calls) == ["slack", "telegram"]
    [slack_delivery] = await client.app[CHANNEL_DISPATCHER].deliveries.all("slack")
    assert slack_delivery.status == "sent" and platform.received > 2  # the stalled attempts timed out


async def test_a_conversation_with_a_person_gets_no_bot_reply(client, platform):
    channel = BY_NAME["telegram"]
    await deliver(client, channel, channel.payload("I want to talk to a person", 9))
    [handoff] = await platform.wait_for_calls(1)
    assert "support team" in handoff.json["text"]
    await deliver(client, channel, channel.payload(QUESTION, 10))
    await client.app[CHANNEL_DISPATCHER].drain()
    assert len(platform.calls) == 1  # silent: the agent answers
    statuses = [d.status for d in await client.app[CHANNEL_DISPATCHER].deliveries.all("telegram")]
    assert statuses == ["sent", "silent"]
    turns = await stored_turns(client, "telegram", channel.sender)
    assert turns[-1].text == QUESTION

    # The agent answers from the console; it reaches the customer's chat and the transcript.
    conversation_id = turns[-1].conversation_id
    sent = await client.post(f"/api/conversations/{conversation_id}/messages", json={"text": "Hi, Sam here. 30 days from delivery.", "agent": "sam"})
    assert sent.status == 202, await sent.text()
    [_, agent_call] = await platform.wait_for_calls(2)
    assert agent_call.json == {"chat_id": 1111111, "text": "Hi, Sam here. 30 days from delivery."}
    assert (await stored_turns(client, "telegram", channel.sender))[-1].role == "agent"
    assert (await client.post(f"/api/conversations/{conversation_id}/messages", json={"text": " "})).status == 400

    # A REST conversation has nowhere to push an agent's message: said, not silently dropped.
    rest = await client.post("/webhooks/rest/webhook", json={"sender": "rest-customer", "message": "hello"})
    rest_id = (await rest.json())[0]["custom"]["conversation_id"]
    refused = await client.post(f"/api/conversations/{rest_id}/messages", json={"text": "hi"})
    assert refused.status == 400 and "rest channel" in (await refused.json())["message"]


async def test_health_lists_the_enabled_channels(client):
    health = await (await client.get("/health")).json()
    assert health["channels"] == ["rest", "web", "telegram", "slack", "whatsapp", "messenger"]


async def test_a_restart_answers_each_pending_delivery_once(aiohttp_client, settings, sample_answerer, sample_intents, platform):
    """A run stopped (killed, or hung as the old server did) after accepting three Telegram messages:
    one whose customer turn it had stored, two it had only logged. The next start answers each once,
    stores each customer turn once, and sends each reply once."""
    from bot.conversations import SQLiteConversationStore
    from connectors.base import InboundMessage
    from connectors.deliveries import DeliveryLog
    from connectors.dispatch import delivery_message_id

    questions = ["How many days do I have to return an item?", "Do you ship to Canada?", "Can I pay with PayPal?"]
    log = DeliveryLog(settings.database_path)
    store = SQLiteConversationStore(settings.database_path)
    await log.open()
    await store.open()
    ids = [await log.accept(InboundMessage("telegram", "1111111", q, (f"update:{20000 + i}",), {"chat_id": 1111111}))
           for i, q in enumerate(questions)]
    conversation = await store.conversation_for("telegram", "1111111")
    await store.append(conversation.conversation_id, "customer", questions[0], {"channel": "telegram"},
                       message_id=delivery_message_id(ids[0]))
    await store.close()
    await log.close()

    for restart in range(2):  # and a second restart finds nothing left to do
        client = await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))
        await client.app[CHANNEL_DISPATCHER].drain()
        turns = await stored_turns(client, "telegram", "1111111")
        assert [t.text for t in turns if t.role == "customer"] == questions
        assert [t.role for t in turns].count("bot") == 3
        await client.close()
    sent = [call.json["text"] for call in platform.calls]
    assert len(sent) == 3 and "30 days" in sent[0] and "Canada" in sent[1] and "PayPal" in sent[2]
