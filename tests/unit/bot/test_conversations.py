from __future__ import annotations

import asyncio

import pytest

from bot.conversations import SQLiteConversationStore
from core.errors import NotFound, StorageError
from core.slots import PendingQuestion, Slots


@pytest.fixture
async def store(tmp_path):
    s = SQLiteConversationStore(tmp_path / "db" / "conversations.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_conversation_for_is_stable_per_channel_and_sender(store):
    first = await store.conversation_for("web", "alice")
    again = await store.conversation_for("web", "alice")
    assert again.conversation_id == first.conversation_id
    assert (first.channel, first.sender, first.owner) == ("web", "alice", "bot")
    other_channel = await store.conversation_for("whatsapp", "alice")
    other_sender = await store.conversation_for("web", "bob")
    assert len({first.conversation_id, other_channel.conversation_id, other_sender.conversation_id}) == 3


async def test_append_and_history_in_order(store):
    conv = await store.conversation_for("web", "alice")
    t1 = await store.append(conv.conversation_id, "customer", "Where is my order?", {"channel": "web"})
    t2 = await store.append(conv.conversation_id, "bot", "It ships today.", {"confidence": 0.9})
    t3 = await store.append(conv.conversation_id, "customer", "Thanks")
    assert t1.turn_id < t2.turn_id < t3.turn_id
    history = await store.history(conv.conversation_id)
    assert [(t.role, t.text) for t in history] == [
        ("customer", "Where is my order?"),
        ("bot", "It ships today."),
        ("customer", "Thanks"),
    ]
    assert history[1].payload == {"confidence": 0.9}
    assert history[2].payload == {}
    assert [t.text for t in await store.history(conv.conversation_id, limit=2)] == ["It ships today.", "Thanks"]


async def test_histories_do_not_mix(store):
    a = await store.conversation_for("web", "alice")
    b = await store.conversation_for("web", "bob")
    await store.append(a.conversation_id, "customer", "from alice")
    await store.append(b.conversation_id, "customer", "from bob")
    assert [t.text for t in await store.history(a.conversation_id)] == ["from alice"]
    assert [t.text for t in await store.history(b.conversation_id)] == ["from bob"]


async def test_concurrent_appends_are_all_kept(store):
    conv = await store.conversation_for("web", "alice")
    await asyncio.gather(*(store.append(conv.conversation_id, "customer", f"m{i}") for i in range(20)))
    assert sorted(t.text for t in await store.history(conv.conversation_id)) == sorted(f"m{i}" for i in range(20))


async def test_history_survives_close_and_reopen(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    s = SQLiteConversationStore(path)
    await s.open()
    conv = await s.conversation_for("web", "alice")
    await s.append(conv.conversation_id, "customer", "Hello 你好", {"k": "v"})
    await s.set_owner(conv.conversation_id, "human")
    await s.close()

    reopened = SQLiteConversationStore(path)
    await reopened.open()
    try:
        again = await reopened.conversation_for("web", "alice")
        assert again.conversation_id == conv.conversation_id
        assert again.owner == "human"
        history = await reopened.history(conv.conversation_id)
        assert [(t.role, t.text, t.payload) for t in history] == [("customer", "Hello 你好", {"k": "v"})]
    finally:
        await reopened.close()


async def test_get_unknown_conversation_is_not_found(store):
    with pytest.raises(NotFound):
        await store.get("does-not-exist")
    with pytest.raises(NotFound):
        await store.history("does-not-exist")
    with pytest.raises(NotFound):
        await store.set_owner("does-not-exist", "human")


async def test_get_known_conversation(store):
    conv = await store.conversation_for("web", "alice")
    got = await store.get(conv.conversation_id)
    assert got == conv


async def test_append_to_unknown_conversation_is_a_storage_error(store):
    with pytest.raises(StorageError):
        await store.append("does-not-exist", "customer", "hi")


async def test_set_owner(store):
    conv = await store.conversation_for("web", "alice")
    updated = await store.set_owner(conv.conversation_id, "human")
    assert updated.owner == "human"
    assert (await store.get(conv.conversation_id)).owner == "human"
    assert (await store.conversation_for("web", "alice")).owner == "human"
    assert (await store.set_owner(conv.conversation_id, "bot")).owner == "bot"


async def test_closed_store_is_a_storage_error(tmp_path):
    s = SQLiteConversationStore(tmp_path / "c.sqlite3")
    with pytest.raises(StorageError):
        await s.conversation_for("web", "alice")
    await s.open()
    await s.close()
    await s.close()  # closing twice is harmless
    with pytest.raises(StorageError):
        await s.get("x")


async def test_append_can_store_slots_in_the_same_transaction(tmp_path):
    store = SQLiteConversationStore(tmp_path / "c.sqlite3")
    await store.open()
    conversation = await store.conversation_for("rest", "slots")
    await store.append(conversation.conversation_id, "bot", "What's your order number?", {}, slots=Slots(pending=PendingQuestion("order_number")))
    assert (await store.get(conversation.conversation_id)).slots == Slots(pending=PendingQuestion("order_number"))
    await store.append(conversation.conversation_id, "customer", "12345")  # no slots: left as they were
    assert (await store.get(conversation.conversation_id)).slots == Slots(pending=PendingQuestion("order_number"))
    await store.close()


async def test_handoff_owner_reason_and_listing(tmp_path):
    store = SQLiteConversationStore(tmp_path / "c.sqlite3")
    await store.open()
    a = await store.conversation_for("rest", "a")
    b = await store.conversation_for("rest", "b")
    assert await store.handoffs() == []
    await store.set_owner(b.conversation_id, "human", "contact_human_agent")
    [waiting] = await store.handoffs()
    assert waiting.conversation_id == b.conversation_id and waiting.handoff_reason == "contact_human_agent"
    assert waiting.handoff_at is not None
    back = await store.set_owner(b.conversation_id, "bot")
    assert back.owner == "bot" and back.handoff_reason == "" and back.handoff_at is None
    assert (await store.get(a.conversation_id)).owner == "bot"
    with pytest.raises(ValueError):
        await store.set_owner(a.conversation_id, "robot")
    await store.close()


async def test_database_from_before_slots_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE conversations (conversation_id TEXT PRIMARY KEY, channel TEXT NOT NULL, sender TEXT NOT NULL,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner TEXT NOT NULL DEFAULT 'bot');"
        "INSERT INTO conversations VALUES ('old', 'rest', 'x', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'bot');"
    )
    db.close()
    store = SQLiteConversationStore(path)
    await store.open()
    old = await store.get("old")
    assert old.slots == Slots() and old.owner == "bot"
    await store.set_slots("old", Slots(order_number="12345"))
    assert (await store.get("old")).slots == Slots(order_number="12345")
    await store.close()


async def test_closing_twice_at_once_is_harmless(tmp_path):
    import asyncio

    from bot.conversations import SQLiteConversationStore

    store = SQLiteConversationStore(tmp_path / "c.sqlite3")
    await store.open()
    await asyncio.gather(store.close(), store.close())
    await store.close()


async def test_a_message_id_finds_the_customer_turn_and_the_reply_to_it(store):
    conv = await store.conversation_for("telegram", "1111")
    assert await store.find_message(conv.conversation_id, "delivery:7") is None
    asked = await store.append(conv.conversation_id, "customer", "Do you ship to Canada?", message_id="delivery:7")
    turn, reply = await store.find_message(conv.conversation_id, "delivery:7")
    assert turn.turn_id == asked.turn_id and reply is None  # stored, not answered yet (a crash here)
    await store.append(conv.conversation_id, "bot", "Yes, we ship to Canada.", {"kind": "answer"}, in_reply_to=asked.turn_id)
    turn, reply = await store.find_message(conv.conversation_id, "delivery:7")
    assert reply.text == "Yes, we ship to Canada." and reply.payload == {"kind": "answer"}
    # The same id in another conversation is another message.
    other = await store.conversation_for("telegram", "2222")
    assert await store.find_message(other.conversation_id, "delivery:7") is None
