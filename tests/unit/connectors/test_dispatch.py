"""The dispatcher with a fake dialogue and a fake platform, over a real SQLite delivery log:
answered once, in order per sender, retried when the platform fails, resumed after a restart."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from connectors.base import InboundMessage
from connectors.deliveries import DeliveryLog
from connectors.dispatch import ChannelDispatcher
from connectors.outbound import DeliveryFailed, PlatformClient
from core.errors import BadRequest, MessageTooLarge, StorageError, TooManyRequests
from core.types import Conversation, Exchange, Message, Reply


class FakeDialogue:
    def __init__(self):
        self.seen: list[str] = []
        self.raises: dict[str, Exception] = {}
        self.delays: dict[str, float] = {}
        self.silent = False

    async def handle(self, message: Message) -> Exchange:
        await asyncio.sleep(self.delays.get(message.text, 0))
        if message.text in self.raises:
            raise self.raises[message.text]
        self.seen.append(message.text)
        conversation = Conversation("c1", message.channel, message.sender, datetime.now(timezone.utc))
        if self.silent:
            return Exchange(conversation, Reply("", kind="silent"))
        return Exchange(conversation, Reply(f"answer to {message.text}"))


class FakeConnector:
    name = "fake"
    path = "/webhooks/fake"
    text_limit = 50

    def __init__(self):
        self.sent: list[tuple[dict, str]] = []
        self.failures: list[DeliveryFailed] = []

    async def send(self, client, address, text):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((dict(address), text))


def inbound(text: str, key: str, sender: str = "alice") -> InboundMessage:
    return InboundMessage("fake", sender, text, (key,), {"chat": sender})


@pytest.fixture
async def log(tmp_path):
    deliveries = DeliveryLog(tmp_path / "conversations.sqlite3")
    await deliveries.open()
    yield deliveries
    await deliveries.close()


@pytest.fixture
def dialogue():
    return FakeDialogue()


@pytest.fixture
def connector():
    return FakeConnector()


@pytest.fixture
async def dispatcher(log, dialogue, connector):
    d = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], retry_seconds=0.05, max_attempts=3)
    await d.start()
    yield d
    await d.stop()


async def statuses(log) -> list[str]:
    return [d.status for d in await log.all()]


async def test_answered_and_sent_once(dispatcher, dialogue, connector, log):
    assert await dispatcher.accept(inbound("hi", "u1"))
    assert not await dispatcher.accept(inbound("hi", "u1"))
    await dispatcher.drain()
    assert dialogue.seen == ["hi"] and connector.sent == [({"chat": "alice"}, "answer to hi")]
    assert await statuses(log) == ["sent"]


async def test_any_shared_key_is_a_duplicate(dispatcher, connector):
    assert await dispatcher.accept(InboundMessage("fake", "a", "q", ("event:1", "message:C:1"), {}))
    assert not await dispatcher.accept(InboundMessage("fake", "a", "q", ("event:2", "message:C:1"), {}))
    # The same key on another channel is another platform's id.
    assert await dispatcher.deliveries.accept(InboundMessage("other", "a", "q", ("event:1",), {})) is not None


async def test_one_senders_messages_are_answered_in_order(dispatcher, dialogue, connector):
    dialogue.delays = {"first": 0.1}
    await dispatcher.accept(inbound("first", "u1"))
    await dispatcher.accept(inbound("second", "u2"))
    await dispatcher.accept(inbound("other customer", "u3", sender="bob"))
    await dispatcher.drain()
    assert dialogue.seen.index("first") < dialogue.seen.index("second")
    assert dialogue.seen[0] == "other customer"  # not held up by alice's slow message
    assert dispatcher._sender_locks == {}  # locks are forgotten once idle


async def test_silent_rate_limited_and_empty(dispatcher, dialogue, connector, log):
    dialogue.raises = {"flood": TooManyRequests("too many messages", 10), "   ": BadRequest("message is empty")}
    await dispatcher.accept(inbound("flood", "u1"))
    await dispatcher.accept(inbound("   ", "u2"))
    await dispatcher.drain()
    dialogue.silent = True
    await dispatcher.accept(inbound("hello?", "u3"))
    await dispatcher.drain()
    assert connector.sent == []
    assert await statuses(log) == ["dropped", "dropped", "silent"]


async def test_a_message_too_long_is_told_so(dispatcher, dialogue, connector):
    dialogue.raises = {"long": MessageTooLarge("too long", length=5000, limit=2000)}
    await dispatcher.accept(inbound("long", "u1"))
    await dispatcher.drain()
    sent = " ".join(text for _, text in connector.sent)
    assert "5000 characters" in sent and "2000" in sent
    assert all(len(text) <= connector.text_limit for _, text in connector.sent)  # split to the platform's limit


async def test_failed_sends_are_retried_then_kept_as_dead_letters(dispatcher, connector, log):
    connector.failures = [DeliveryFailed("HTTP 503", retryable=True)]
    await dispatcher.accept(inbound("q1", "u1"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if await statuses(log) == ["sent"]:
            break
    [delivery] = await log.all()
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.last_error == "HTTP 503"

    connector.failures = [DeliveryFailed("HTTP 503", retryable=True)] * 3
    await dispatcher.accept(inbound("q2", "u2"))
    for _ in range(200):
        await asyncio.sleep(0.02)
        if (await log.all())[-1].status == "dead":
            break
    # The platform kept failing: a dead letter (listed in /health and /api/deliveries), not dropped.
    assert (await log.all())[-1].status == "dead" and len(connector.sent) == 1
    assert [d.text for d in await log.dead()] == ["q2"]

    connector.failures = [DeliveryFailed("HTTP 403 bot was blocked", retryable=False)]
    await dispatcher.accept(inbound("q3", "u3"))
    await dispatcher.drain()
    # Refused for good (the customer blocked the bot): failed, never retried.
    assert (await log.all())[-1].status == "failed" and len(connector.sent) == 1


async def test_a_dead_letter_is_sent_once_the_platform_answers_again(dispatcher, connector, log):
    connector.failures = [DeliveryFailed("HTTP 503", retryable=True)] * 3
    await dispatcher.accept(inbound("q1", "u1"))
    for _ in range(200):
        await asyncio.sleep(0.02)
        if await statuses(log) == ["dead"]:
            break
    assert await statuses(log) == ["dead"] and connector.sent == []
    await dispatcher.accept(inbound("q2", "u2"))  # gets through: the platform is back
    for _ in range(200):
        await asyncio.sleep(0.02)
        if await statuses(log) == ["sent", "sent"]:
            break
    assert await statuses(log) == ["sent", "sent"] and len(connector.sent) == 2


async def test_a_dead_letter_past_the_reply_window_expires(log, dialogue, connector):
    d = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], retry_seconds=0.05, max_attempts=1,
                          reply_window_hours=0.0)
    await d.start()
    try:
        connector.failures = [DeliveryFailed("HTTP 503", retryable=True)]
        await d.accept(inbound("q1", "u1"))
        await d.drain()
        assert await statuses(log) == ["dead"]
        await d.accept(inbound("q2", "u2"))
        await d.drain()
        assert await statuses(log) == ["expired", "sent"] and len(connector.sent) == 1
    finally:
        await d.stop()


async def test_dead_letters_are_probed_while_no_new_message_comes(log, dialogue, connector):
    now = [1000.0]
    d = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], retry_seconds=0.05, max_attempts=1,
                          dead_letter_probe_seconds=60, clock=lambda: now[0])
    await d.start()
    try:
        connector.failures = [DeliveryFailed("HTTP 503", retryable=True)]
        await d.accept(inbound("q1", "u1"))
        await d.drain()
        assert await statuses(log) == ["dead"]
        await asyncio.sleep(0.1)
        assert await statuses(log) == ["dead"]  # not probed before the interval
        now[0] += 61
        for _ in range(100):
            await asyncio.sleep(0.02)
            if await statuses(log) == ["sent"]:
                break
        assert await statuses(log) == ["sent"] and len(connector.sent) == 1
    finally:
        await d.stop()


async def test_work_left_by_a_stopped_process_is_resumed(log, dialogue, connector):
    # A run stops before answering one delivery, and after answering but before sending another.
    dialogue.raises = {"unanswered": StorageError("disk full")}
    first = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], retry_seconds=60)
    await first.start()
    await first.accept(inbound("unanswered", "u1"))
    await first.drain()
    unsent = await log.accept(inbound("unsent", "u2", sender="bob"))
    await log.answered(unsent, "answer to unsent")
    await first.stop()
    assert await statuses(log) == ["received", "answered"] and connector.sent == []

    dialogue.raises = {}
    second = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], retry_seconds=0.05)
    await second.start()
    for _ in range(100):
        await asyncio.sleep(0.02)
        if await statuses(log) == ["sent", "sent"]:
            break
    await second.stop()
    assert sorted(text for _, text in connector.sent) == ["answer to unanswered", "answer to unsent"]


async def test_old_finished_deliveries_are_forgotten(log):
    delivery_id = await log.accept(inbound("old", "k-old"))
    await log.finished(delivery_id, "sent")
    await log.accept(inbound("pending", "k-new"))
    await log._run(lambda: log.db.execute("UPDATE channel_deliveries SET received_at = '2000-01-01T00:00:00+00:00'"))
    assert await log.forget_before(30) == 1
    assert [d.text for d in await log.all()] == ["pending"]  # unfinished work is never forgotten
    assert await log.accept(inbound("old again", "k-old")) is not None  # its key went with it


async def test_an_agent_message_goes_to_the_customers_last_address(dispatcher, connector, log):
    from core.errors import NotFound

    with pytest.raises(NotFound, match="no fake delivery from carol"):
        await dispatcher.send_from_agent("fake", "carol", "hello")
    await dispatcher.accept(InboundMessage("fake", "carol", "q", ("k1",), {"chat": "old"}))
    await dispatcher.accept(InboundMessage("fake", "carol", "q2", ("k2",), {"chat": "new"}))
    await dispatcher.drain()
    await dispatcher.send_from_agent("fake", "carol", "Sam here")
    await dispatcher.drain()
    assert connector.sent[-1] == ({"chat": "new"}, "Sam here")
    assert (await log.all())[-1].status == "sent"


async def test_start_up_replay_is_bounded_and_skips_what_is_past_the_reply_window(log, dialogue, connector):
    for i in range(5):
        await log.accept(inbound(f"pending {i}", f"p{i}", sender=f"s{i}"))
    # The oldest one arrived two days ago: past a 24-hour reply window.
    await log._run(lambda: log.db.execute(
        "UPDATE channel_deliveries SET received_at = '2000-01-01T00:00:00+00:00' WHERE text = 'pending 0'"))
    d = ChannelDispatcher(dialogue.handle, log, PlatformClient(), [connector], replay_limit=3, replay_max_age_hours=24)
    await d.start()
    await d.drain()
    await d.stop()
    assert sorted(dialogue.seen) == ["pending 2", "pending 3", "pending 4"]  # the newest three, once each
    assert await statuses(log) == ["expired", "expired", "sent", "sent", "sent"]


async def test_replayed_deliveries_carry_their_message_id(log, connector):
    seen: list[str | None] = []

    async def handle(message: Message) -> Exchange:
        seen.append(message.message_id)
        return Exchange(Conversation("c1", message.channel, message.sender, datetime.now(timezone.utc)), Reply("ok"))

    delivery_id = await log.accept(inbound("left unanswered", "k1"))
    d = ChannelDispatcher(handle, log, PlatformClient(), [connector])
    await d.start()
    await d.drain()
    await d.stop()
    assert seen == [f"delivery:{delivery_id}"]
