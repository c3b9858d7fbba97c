from __future__ import annotations

import pytest

from bot.conversations import SQLiteConversationStore
from bot.customer_text import is_no, is_question, is_yes, language_of
from bot.dialogue import DialogueService
from bot.phrases import SMALL_TALK, small_talk
from core.batching import Overloaded
from core.errors import BadRequest, MessageTooLarge, StorageError
from core.types import Message, Reply, Source
from core.wording import SORRY, SORRY_TEXT, clean_text

# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", "\x00\x00", "\u200b"])
def test_clean_text_rejects_empty(text):
    with pytest.raises(BadRequest) as info:
        clean_text(text, 100)
    assert not isinstance(info.value, MessageTooLarge)
    assert "empty" in info.value.message


@pytest.mark.parametrize("value", [None, 42, ["hi"], b"hello"])
def test_clean_text_rejects_non_strings(value):
    with pytest.raises(BadRequest) as info:
        clean_text(value, 100)
    assert "string" in info.value.message


def test_clean_text_rejects_too_long():
    assert clean_text("a" * 10, 10) == "a" * 10
    with pytest.raises(MessageTooLarge) as info:
        clean_text("a" * 11, 10)
    assert info.value.http_status == 413
    assert info.value.details == {"length": 11, "limit": 10}


def test_clean_text_strips_nul_and_control_characters():
    cleaned = clean_text("  Where\x00 is my\x07 order?\x1b  ", 100)
    assert "\x00" not in cleaned and "\x07" not in cleaned and "\x1b" not in cleaned
    assert cleaned == "Where  is my  order?"


def test_clean_text_keeps_newlines_and_normalises_unicode():
    assert clean_text("line one\nline two", 100) == "line one\nline two"
    assert clean_text("cafe\u0301", 100) == "caf\u00e9"  # NFC


# ---------------------------------------------------------------- small talk


@pytest.mark.parametrize("text", ["hi", "Hello!", "hey", "Good morning.", "HELLO"])
def test_english_greetings(text):
    reply = small_talk(text)
    assert reply is not None and reply.kind == "greeting"
    assert reply.text == SMALL_TALK["greeting"]["en"]


def test_chinese_greeting_gets_a_chinese_reply():
    reply = small_talk("你好")
    assert reply is not None and reply.text == SMALL_TALK["greeting"]["zh"]


def test_thanks_and_bye():
    assert small_talk("Thank you so much").text == SMALL_TALK["thanks"]["en"]
    assert small_talk("bye!").text == SMALL_TALK["bye"]["en"]
    assert small_talk("谢谢").text == SMALL_TALK["thanks"]["zh"]


@pytest.mark.parametrize("text", ["Hi, how do I return an item?", "hello can you track my order", "history of the company", "typical delivery time"])
def test_questions_are_not_small_talk(text):
    assert small_talk(text) is None


def test_question_after_thanks_is_not_small_talk():
    assert small_talk("Thanks! And how long do refunds take?") is None


def test_chinese_greeting_with_full_width_punctuation():
    reply = small_talk("你好！")
    assert reply is not None and reply.kind == "greeting"


# ---------------------------------------------------------------- reading a reply: yes, no, a question, a language


@pytest.mark.parametrize("text", [
    "yes please", "ok", "Sure, go ahead", "confirm",
    "是", "是的", "对", "好", "好的", "可以", "确认", "没问题", "嗯嗯", "好的，取消吧", "是的，请帮我取消这个订单", "對，確認取消",
    # 取消 repeats the verb of "shall I cancel order N?": a yes.
    "取消", "取消吧", "帮我取消", "那就取消吧！", "请取消订单12346",
])
def test_yes(text):
    assert is_yes(text) and not is_no(text)


@pytest.mark.parametrize("text", [
    "no, keep it", "nope", "never mind", "cancel that",
    "不", "不要", "不用", "不用了，谢谢", "算了", "别取消", "先不要", "还是不要取消了", "我不想取消了", "不是",
    # A negation makes it a no, also after an agreeing word or before 取消: the order stays as it is.
    "好的，不取消了", "不不不，取消吧", "ok, 不取消了",
])
def test_no(text):
    assert is_no(text) and not is_yes(text)


@pytest.mark.parametrize("text", ["我要找人工客服", "请帮我转人工", "订单", "是吗？", "取消吗？", "要不要取消", "hmm I don't know", "嗯我想想"])
def test_neither_yes_nor_no(text):
    assert not is_yes(text) and not is_no(text)


@pytest.mark.parametrize("text, question", [
    ("你们支持哪些付款方式？", True), ("退款要多久", True), ("这个能退吗", True), ("是不是已经发货了", True),
    ("运费是多少", True), ("怎么退货", True), ("What about Canada?", True), ("how long do refunds take", True),
    ("Can I pay with PayPal", True), ("我想了解一下退货政策", False), ("hmm I don't know", False), ("12345", False),
    ("我找找看", False),
])
def test_is_question(text, question):
    assert is_question(text) is question


@pytest.mark.parametrize("text, language", [
    ("订单号是１２３４５", "zh"), ("我的邮箱是 ana.lima@example.com", "zh"), ("it's 12345", "en"), ("Where is my order?", "en"),
    # Nothing but an order number or an e-mail address: the language of the question it answers.
    ("12345", "zh"), ("ana.lima@example.com", "zh"), ("#NW-100234", "zh"),
])
def test_language_of_a_reply(text, language):
    assert language_of(text, default="zh") == language
    assert language_of("12345") == "en"


# ---------------------------------------------------------------- DialogueService


def message(text: str, sender: str = "alice") -> Message:
    return Message(channel="web", sender=sender, text=text)


async def test_customer_turn_is_stored_before_answering(store):
    seen_history = []

    async def answer(text: str) -> Reply:
        conv = await store.conversation_for("web", "alice")
        seen_history.extend((t.role, t.text) for t in await store.history(conv.conversation_id))
        return Reply("You have 30 days.", sources=(Source("returns.md", "Returns", "30 days", 0.8, ("Returns", "Window")),), confidence=0.8)

    service = DialogueService(store, answer)
    exchange = await service.handle(message("  How long do I have\x00 to return?  "))
    assert seen_history == [("customer", "How long do I have  to return?")]
    assert exchange.reply.text == "You have 30 days."
    history = await store.history(exchange.conversation.conversation_id)
    assert [(t.role, t.text) for t in history] == [
        ("customer", "How long do I have  to return?"),
        ("bot", "You have 30 days."),
    ]
    assert history[0].payload == {"channel": "web"}
    assert history[1].payload["kind"] == "answer"
    assert history[1].payload["confidence"] == 0.8
    assert history[1].payload["sources"][0]["document"] == "returns.md"
    assert history[1].payload["sources"][0]["section"] == "Window"


async def test_answer_failure_keeps_the_message_and_apologises(store):
    async def answer(text: str) -> Reply:
        raise RuntimeError("model exploded")

    exchange = await DialogueService(store, answer).handle(message("Where is my order?"))
    assert exchange.reply.kind == "error"
    assert exchange.reply.text == SORRY
    history = await store.history(exchange.conversation.conversation_id)
    assert [(t.role, t.text) for t in history] == [("customer", "Where is my order?"), ("bot", SORRY)]
    assert history[1].payload["kind"] == "error"


async def test_overloaded_answer_passes_its_message_on(store):
    async def answer(text: str) -> Reply:
        raise Overloaded("the bot is busy right now")

    exchange = await DialogueService(store, answer).handle(message("Where is my order?"))
    assert exchange.reply.kind == "error"
    assert exchange.reply.text == "the bot is busy right now"


async def test_greeting_is_answered_without_the_answer_function(store):
    calls = []

    async def answer(text: str) -> Reply:
        calls.append(text)
        return Reply("should not be used")

    exchange = await DialogueService(store, answer).handle(message("Hello!"))
    assert calls == []
    assert exchange.reply.kind == "greeting"
    history = await store.history(exchange.conversation.conversation_id)
    assert [t.role for t in history] == ["customer", "bot"]


async def test_bad_message_is_rejected_before_anything_is_stored(store):
    async def answer(text: str) -> Reply:
        raise AssertionError("not reached")

    service = DialogueService(store, answer, max_message_chars=20)
    with pytest.raises(BadRequest):
        await service.handle(message("   "))
    with pytest.raises(MessageTooLarge):
        await service.handle(message("x" * 21))
    conv = await store.conversation_for("web", "alice")
    assert await store.history(conv.conversation_id) == []


async def test_one_conversation_per_sender(store):
    async def answer(text: str) -> Reply:
        return Reply(f"echo {text}")

    service = DialogueService(store, answer)
    a1 = await service.handle(message("first", sender="alice"))
    a2 = await service.handle(message("second", sender="alice"))
    b1 = await service.handle(message("other", sender="bob"))
    assert a1.conversation.conversation_id == a2.conversation.conversation_id != b1.conversation.conversation_id
    assert [t.text for t in await store.history(a1.conversation.conversation_id)] == ["first", "echo first", "second", "echo second"]


async def test_storage_failure_is_not_swallowed(tmp_path):
    store = SQLiteConversationStore(tmp_path / "c.sqlite3")  # never opened

    async def answer(text: str) -> Reply:
        return Reply("x")

    with pytest.raises(StorageError):
        await DialogueService(store, answer).handle(message("Where is my order?"))


async def test_the_same_message_id_is_answered_from_the_store_and_stored_once(store):
    calls = []

    async def answer(text: str) -> Reply:
        calls.append(text)
        return Reply("You have 30 days.", sources=(Source("returns.md", "Returns", "30 days", 0.8, ("Returns", "Window")),), confidence=0.8)

    service = DialogueService(store, answer)
    first = await service.handle(Message("telegram", "1111", "How long do I have to return?", message_id="delivery:1"))
    again = await service.handle(Message("telegram", "1111", "How long do I have to return?", message_id="delivery:1"))
    assert calls == ["How long do I have to return?"]
    assert again.reply.text == first.reply.text and again.reply.sources == first.reply.sources
    assert again.reply.kind == "answer" and again.reply.confidence == 0.8
    history = await store.history(first.conversation.conversation_id)
    assert [t.role for t in history] == ["customer", "bot"]


async def test_a_message_stored_but_not_answered_is_answered_without_storing_it_again(store):
    # What a crash between "customer turn committed" and "reply committed" leaves behind.
    conversation = await store.conversation_for("telegram", "1111")
    await store.append(conversation.conversation_id, "customer", "Where is my parcel?", message_id="delivery:9")

    async def answer(text: str) -> Reply:
        return Reply("It ships today.", confidence=0.9)

    exchange = await DialogueService(store, answer).handle(Message("telegram", "1111", "Where is my parcel?", message_id="delivery:9"))
    assert exchange.reply.text == "It ships today."
    history = await store.history(conversation.conversation_id)
    assert [(t.role, t.text) for t in history] == [("customer", "Where is my parcel?"), ("bot", "It ships today.")]


async def test_retrieval_that_misses_the_deadline_gets_an_honest_reply_in_time(store):
    import asyncio
    import time

    from bot.phrases import TOO_SLOW
    from core.budget import Deadline

    async def answer(text: str) -> Reply:
        await asyncio.sleep(30)  # a stuck model
        raise AssertionError("not reached")

    started = time.monotonic()
    exchange = await DialogueService(store, answer).handle(message("How long do refunds take?"), deadline=Deadline.after(0.2))
    assert time.monotonic() - started < 2
    assert exchange.reply.kind == "error" and exchange.reply.text == TOO_SLOW["en"]
    history = await store.history(exchange.conversation.conversation_id)
    assert [t.role for t in history] == ["customer", "bot"]  # stored, and told honestly


async def test_errors_are_apologised_for_in_the_customers_language(store):
    import asyncio

    from bot.phrases import TOO_SLOW
    from core.budget import Deadline

    async def broken(text: str) -> Reply:
        raise RuntimeError("model exploded")

    exchange = await DialogueService(store, broken).handle(message("你们的退货政策是什么？"))
    assert exchange.reply.kind == "error" and exchange.reply.text == SORRY_TEXT["zh"]
    assert SORRY == SORRY_TEXT["en"]

    async def stuck(text: str) -> Reply:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    exchange = await DialogueService(store, stuck).handle(message("退款要多久？", sender="bob"), deadline=Deadline.after(0.2))
    assert exchange.reply.kind == "error" and exchange.reply.text == TOO_SLOW["zh"]
