"""Routing, slots, order actions, ownership and handoff, with a fake intent model and knowledge base
over the real SQLite conversation store and the real SQLite sample back end."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bot.backend import SQLiteStoreBackend
from bot.conversations import SQLiteConversationStore
from bot.dialogue import DialoguePolicy, DialogueService, Understanding, is_angry
from bot.follow_ups import resolve_follow_up
from bot.entities import extract
from bot.phrases import ASK_AGAIN, ASK_EMAIL, ASK_ORDER, CONFIRM_CANCEL, KEPT, OFFER_PERSON, OUTCOMES_ZH, describe_order, describe_refund
from core.limits import RateLimiter
from core.errors import TooManyRequests
from core.slots import Slots
from core.types import Message, Reply, Source
from core.wording import HANDOFF_TEXT

TODAY = date(2026, 11, 22)

# The fake intent model: a phrase → intent table, like a trained model that is sure of these.
INTENTS = {
    "where is my order": "track_order",
    "track order": "track_order",
    "cancel my order": "cancel_order",
    "i want a refund": "get_refund",
    "where is my refund": "track_refund",
    "talk to a person": "contact_human_agent",
    "worst": "complaint",
    "disappointed": "complaint",
    # Chinese customers
    "订单到哪": "track_order",
    "取消我的订单": "cancel_order",
    "人工客服": "contact_human_agent",
}


async def fake_understand(text: str) -> Understanding:
    lowered = text.lower()
    for phrase, intent in INTENTS.items():
        if phrase in lowered:
            return Understanding(intent, 0.95)
    return Understanding("place_order", 0.2)  # unsure: below the threshold


class FakeKnowledgeBase:
    """Answers what it knows with a cited passage; anything else is not sure."""

    KNOWN = {
        "return": "You have 30 days from the date of delivery to return an item.",
        "canada": "Canada Standard shipping is $14.95 (6-10 business days).",
        "ship": "We ship to more than 90 countries.",
        "refund": "Refunds are issued within 3 business days of inspection.",
        "cancel": "Once an order has shipped, it can no longer be canceled.",
        "退款": "取消订单后，预授权冻结会在 3–7 个工作日内释放。",
    }

    def __init__(self) -> None:
        self.questions: list[str] = []

    async def __call__(self, question: str) -> Reply:
        self.questions.append(question)
        for key, sentence in self.KNOWN.items():
            if key in question.lower():
                return Reply(sentence, (Source("policies/x.md", "X", sentence, 1.0),), 0.9, "answer")
        return Reply("I'm not sure I found the right answer to that.", (), 0.1, "not_sure")


@pytest.fixture
async def stores(tmp_path):
    conversations = SQLiteConversationStore(tmp_path / "conversations.sqlite3")
    backend = SQLiteStoreBackend(tmp_path / "store.sqlite3", today=lambda: TODAY)
    await conversations.open()
    await backend.open()
    yield conversations, backend
    await conversations.close()
    await backend.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def kb():
    return FakeKnowledgeBase()


@pytest.fixture
def service(stores, kb):
    conversations, backend = stores
    return DialogueService(conversations, kb, understand=fake_understand, backend=backend)


async def say(service, text, sender="ana-lima", channel="rest") -> Reply:
    return (await service.handle(Message(channel=channel, sender=sender, text=text))).reply


# ---------------------------------------------------------------- order status, ownership


async def test_asks_for_order_number_then_answers_for_a_linked_customer(service):
    first = await say(service, "where is my order")
    assert first.kind == "ask" and "order number" in first.text
    second = await say(service, "it's 12345")
    assert second.kind == "order"
    assert "12345" in second.text and "UPS" in second.text and "1Z999AA10123456784" in second.text


async def test_order_number_in_the_first_message_needs_no_question(service):
    reply = await say(service, "where is my order 12346?")
    assert reply.kind == "order" and "hasn't shipped" in reply.text


async def test_stranger_must_prove_ownership_with_the_orders_email(service):
    await say(service, "where is my order", sender="stranger")
    asked = await say(service, "12345", sender="stranger")
    assert asked.kind == "ask" and "e-mail" in asked.text
    assert "UPS" not in asked.text and "Rain Jacket" not in asked.text
    shown = await say(service, "ana.lima@example.com", sender="stranger")
    assert shown.kind == "order" and "1Z999AA10123456784" in shown.text


async def test_another_customers_order_is_never_shown(service):
    """Ben asks about Ana's order: wrong e-mail, then his own e-mail: nothing of Ana's leaks, and the
    reply is the same as for an order that does not exist."""
    await say(service, "where is my order 12345", sender="ben-okafor")
    wrong = await say(service, "ben.okafor@example.com", sender="ben-okafor")
    await say(service, "where is my order 99999", sender="ben-okafor")
    missing = await say(service, "ben.okafor@example.com", sender="ben-okafor")
    for reply in (wrong, missing):
        assert "Rain Jacket" not in reply.text and "UPS" not in reply.text and "Portland" not in reply.text
    assert wrong.text.replace("12345", "N") == missing.text.replace("99999", "N")


async def test_unknown_order_number_for_a_linked_customer_is_not_found_politely(service):
    await say(service, "track order 55555")
    reply = await say(service, "ana.lima@example.com")
    assert reply.kind == "ask" and "couldn't find an order 55555" in reply.text


async def test_repeated_wrong_emails_hand_off_instead_of_allowing_guessing(service, stores):
    conversations, _ = stores
    for _ in range(2):
        await say(service, "where is my order 12345", sender="guesser")
        reply = await say(service, "guess@example.com", sender="guesser")
        assert reply.kind == "ask"
    await say(service, "where is my order 12345", sender="guesser")
    reply = await say(service, "another@example.com", sender="guesser")
    assert reply.kind == "handoff"
    conversation = await conversations.conversation_for("rest", "guesser")
    assert conversation.owner == "human" and conversation.handoff_reason == "verification_failed"


async def test_proof_of_ownership_is_remembered_within_the_session(service):
    await say(service, "where is my order 12349", sender="chen")
    await say(service, "chen.wei@example.com", sender="chen")
    reply = await say(service, "where is my order 12350", sender="chen")
    assert reply.kind == "order" and "cancelled" in reply.text


# ---------------------------------------------------------------- actions


async def test_cancel_asks_for_confirmation_and_cites_the_policy(service, stores, kb):
    _, backend = stores
    ask = await say(service, "cancel my order 12346")
    assert ask.kind == "ask" and "yes or no" in ask.text
    assert (await backend.find_order("12346")).status == "processing"
    done = await say(service, "yes please")
    assert done.kind == "order" and "cancelled" in done.text
    assert (await backend.find_order("12346")).status == "cancelled"
    assert kb.questions and done.sources  # the policy passage is cited


async def test_cancel_declined_changes_nothing(service, stores):
    _, backend = stores
    await say(service, "cancel my order 12346")
    reply = await say(service, "no, keep it")
    assert "left order 12346" in reply.text
    assert (await backend.find_order("12346")).status == "processing"


async def test_shipped_order_cannot_be_cancelled(service, stores):
    _, backend = stores
    reply = await say(service, "cancel my order 12345")
    assert reply.kind == "order" and "can no longer be cancelled" in reply.text
    assert (await backend.find_order("12345")).status == "shipped"


async def test_refund_within_window_starts_a_return(service, stores):
    _, backend = stores
    await say(service, "i want a refund for order 12347", sender="ben-okafor")
    assert (await backend.find_order("12347")).refund_status == "return_started"
    status = await say(service, "where is my refund for 12347", sender="ben-okafor")
    assert "return is open" in status.text


async def test_refund_outside_window_is_refused(service, stores):
    _, backend = stores
    reply = await say(service, "i want a refund for order 12348", sender="ben-okafor")
    assert "30-day" in reply.text
    assert (await backend.find_order("12348")).refund_status == ""


async def test_a_new_request_replaces_an_unanswered_question(service, kb):
    await say(service, "where is my order")
    reply = await say(service, "talk to a person")
    assert reply.kind == "handoff"


async def test_the_question_is_asked_again_once_then_dropped(service, kb):
    await say(service, "where is my order")
    again = await say(service, "hmm I don't know")
    assert again.kind == "ask"
    dropped = await say(service, "no idea really")
    assert dropped.kind in ("answer", "not_sure")


# ---------------------------------------------------------------- handoff


async def test_handoff_on_request_then_silence_until_handback(service, stores):
    conversations, _ = stores
    reply = await say(service, "I want to talk to a person", sender="dana")
    assert reply.kind == "handoff" and reply.metadata["handoff"]["reason"] == "contact_human_agent"
    conversation = await conversations.conversation_for("rest", "dana")
    assert conversation.owner == "human"
    [waiting] = await conversations.handoffs()
    assert waiting.conversation_id == conversation.conversation_id

    silent = await say(service, "hello? anyone?", sender="dana")
    assert silent.kind == "silent" and silent.text == ""
    turns = await conversations.history(conversation.conversation_id)
    assert turns[-1].role == "customer" and turns[-1].text == "hello? anyone?"  # kept for the agent

    await conversations.set_owner(conversation.conversation_id, "bot")
    back = await say(service, "How long do I have to return an item?", sender="dana")
    assert back.kind == "answer" and "30 days" in back.text


async def test_angry_complaint_hands_off_but_mild_one_does_not(service):
    mild = await say(service, "I'm a bit disappointed with the colour", sender="mild")
    assert mild.kind != "handoff"
    angry = await say(service, "This is the WORST service, I am FURIOUS!!", sender="angry")
    assert angry.kind == "handoff" and angry.metadata["handoff"]["reason"] == "angry_complaint"


async def test_repeated_failure_hands_off_and_first_failure_offers_a_person(service):
    first = await say(service, "Do you sell helicopters?", sender="eve")
    assert first.kind == "not_sure" and "person" in first.text
    second = await say(service, "What about submarines?", sender="eve")
    assert second.kind == "handoff" and second.metadata["handoff"]["reason"] == "repeated_failure"


async def test_an_answer_resets_the_failure_count(service):
    await say(service, "Do you sell helicopters?", sender="fay")
    await say(service, "How long do I have to return an item?", sender="fay")
    reply = await say(service, "Do you sell submarines?", sender="fay")
    assert reply.kind == "not_sure"


# ---------------------------------------------------------------- multi-turn context, sessions


async def test_follow_up_uses_the_destination_from_earlier(service, kb):
    await say(service, "Do you ship to Canada?", sender="gus")
    reply = await say(service, "and how much does it cost to ship there?", sender="gus")
    assert kb.questions[-1] == "How much does it cost to ship to Canada?"
    assert "$14.95" in reply.text and reply.metadata["resolved_question"] == kb.questions[-1]


async def test_slots_expire_after_the_idle_time(stores, kb):
    conversations, backend = stores
    clock = Clock()
    service = DialogueService(conversations, kb, understand=fake_understand, backend=backend,
                              policy=DialoguePolicy(session_idle=timedelta(minutes=30)), clock=clock)
    await say(service, "where is my order", sender="hal")
    clock.now += timedelta(hours=2)
    # The stored updated_at is real time; move the clock well past it.
    clock.now = datetime.now(timezone.utc) + timedelta(hours=2)
    reply = await say(service, "12345", sender="hal")
    assert reply.kind != "order" and "e-mail" not in reply.text  # the old question was forgotten


async def test_slots_survive_a_restart(tmp_path, kb):
    """The pending question lives in SQLite, not in memory."""
    path = tmp_path / "c.sqlite3"
    backend = SQLiteStoreBackend(tmp_path / "s.sqlite3", today=lambda: TODAY)
    await backend.open()
    first = SQLiteConversationStore(path)
    await first.open()
    await say(DialogueService(first, kb, understand=fake_understand, backend=backend), "where is my order")
    await first.close()
    second = SQLiteConversationStore(path)
    await second.open()
    reply = await say(DialogueService(second, kb, understand=fake_understand, backend=backend), "12345")
    assert reply.kind == "order"
    await second.close()
    await backend.close()


# ---------------------------------------------------------------- abuse


async def test_rate_limit_applies_per_sender_and_stores_nothing_rejected(stores, kb):
    conversations, backend = stores
    now = [0.0]
    service = DialogueService(conversations, kb, understand=fake_understand, backend=backend,
                              limiter=RateLimiter(per_minute=60, burst=3, clock=lambda: now[0]))
    for _ in range(3):
        await say(service, "Do you ship to Canada?", sender="flood")
    with pytest.raises(TooManyRequests):
        await say(service, "Do you ship to Canada?", sender="flood")
    assert (await say(service, "Do you ship to Canada?", sender="calm")).kind == "answer"
    conversation = await conversations.conversation_for("rest", "flood")
    assert len(await conversations.history(conversation.conversation_id)) == 6  # 3 in, 3 out
    now[0] += 1.0
    await say(service, "Do you ship to Canada?", sender="flood")


async def test_without_an_intent_model_everything_goes_to_the_knowledge_base(stores, kb):
    conversations, backend = stores
    service = DialogueService(conversations, kb, backend=backend)
    reply = await say(service, "where is my order")
    assert reply.kind == "not_sure" and kb.questions == ["where is my order"]


# ---------------------------------------------------------------- helpers


def test_resolve_follow_up_cases():
    assert resolve_follow_up("and how much is it to ship there?", Slots(destination="Canada"), extract("x")) == "How much is it to ship to Canada?"
    assert resolve_follow_up("how long does shipping take?", Slots(destination="Canada"), extract("x")) == "how long does shipping take?"
    text = "what about Europe?"
    slots = Slots(last_question="How much is shipping to Canada?", last_destination="Canada")
    assert resolve_follow_up(text, slots, extract(text)) == "How much is shipping to Europe?"


@pytest.mark.parametrize("text,angry", [
    ("This is unacceptable!!", True), ("worst shop ever", True), ("I AM VERY ANGRY NOW", True),
    ("the zip broke after a week", False), ("I'm a bit disappointed", False),
])
def test_is_angry(text, angry):
    assert is_angry(text) is angry


async def test_describe_order_covers_each_status(stores):
    _, backend = stores
    texts = {n: describe_order(await backend.find_order(n)) for n in ("12345", "12346", "12347", "12350")}
    assert "shipped with UPS" in texts["12345"] and "Tuesday, November 24" in texts["12345"]
    assert "being prepared" in texts["12346"]
    assert "delivered on November 12" in texts["12347"]
    assert "cancelled" in texts["12350"]


async def test_describe_order_in_chinese_covers_each_status(stores):
    _, backend = stores
    texts = {n: describe_order(await backend.find_order(n), "zh") for n in ("12345", "12346", "12347", "12350")}
    assert "已由 UPS 发货" in texts["12345"] and "11月24日（星期二）" in texts["12345"] and "1Z999AA10123456784" in texts["12345"]
    assert "正在备货" in texts["12346"] and "尚未发货" in texts["12346"]
    assert "于11月12日送达" in texts["12347"]
    assert "已取消" in texts["12350"]
    assert texts["12345"].startswith("订单 12345（Northwind Stormline Rain Jacket, Men's）")
    refund = describe_refund(await backend.find_order("12345"), "zh")
    assert refund.startswith("订单 12345 目前没有进行中的退款。") and texts["12345"] in refund
    # English stays as it was, and is the default.
    assert describe_order(await backend.find_order("12346")) == describe_order(await backend.find_order("12346"), "en")


# ---------------------------------------------------------------- Chinese customers


async def test_chinese_order_tracking_is_asked_and_answered_in_chinese(service):
    asked = await say(service, "我的订单到哪了？", sender="stranger")
    assert asked.kind == "ask" and asked.text == ASK_ORDER["track_order"]["zh"]
    proof = await say(service, "订单号是１２３４５", sender="stranger")  # full-width digits
    assert proof.kind == "ask" and proof.text == ASK_EMAIL["zh"].format(number="12345")
    # An e-mail address alone has no language: the reply stays in the language of the question.
    shown = await say(service, "ana.lima@example.com", sender="stranger")
    assert shown.kind == "order" and "已由 UPS 发货" in shown.text and "1Z999AA10123456784" in shown.text


async def test_chinese_customer_is_asked_again_in_chinese(service):
    await say(service, "我的订单到哪了", sender="stranger")
    again = await say(service, "我找找看", sender="stranger")
    assert again.kind == "ask" and again.text == ASK_AGAIN["order_number"]["zh"]


async def test_english_question_answered_in_chinese_gets_a_chinese_reply(service):
    asked = await say(service, "where is my order")
    assert asked.text == ASK_ORDER["track_order"]["en"]
    shown = await say(service, "我的订单号是 12345")  # an answer, though in another language
    assert shown.kind == "order" and shown.text == describe_order(await service.backend.find_order("12345"), "zh")


async def test_chinese_request_for_a_person_is_answered_in_chinese(service, stores):
    conversations, _ = stores
    reply = await say(service, "我要找人工客服", sender="zh-dana")
    assert reply.kind == "handoff" and reply.text == HANDOFF_TEXT["contact_human_agent"]["zh"]
    assert (await conversations.conversation_for("rest", "zh-dana")).owner == "human"


async def test_chinese_repeated_failure_offers_and_then_hands_off_in_chinese(service):
    first = await say(service, "你们卖直升机吗？", sender="zh-eve")
    assert first.kind == "not_sure" and first.text.endswith(OFFER_PERSON["zh"])
    second = await say(service, "那潜水艇呢？", sender="zh-eve")
    assert second.kind == "handoff" and second.text == HANDOFF_TEXT["repeated_failure"]["zh"]


async def test_switching_language_while_the_bot_waits_for_the_email_routes_the_new_question(service, stores, kb):
    conversations, _ = stores
    asked = await say(service, "where is my order 12345", sender="stranger")
    assert asked.kind == "ask" and asked.text == ASK_EMAIL["en"].format(number="12345")
    reply = await say(service, "你们支持哪些付款方式？", sender="stranger")
    assert reply.kind == "not_sure" and reply.metadata["route"] == "knowledge_question"
    assert kb.questions[-1] == "你们支持哪些付款方式？" and reply.text.endswith(OFFER_PERSON["zh"])
    assert (await conversations.conversation_for("rest", "stranger")).slots.pending is None


async def test_words_in_another_language_without_a_question_mark_also_route(service, stores, kb):
    conversations, _ = stores
    await say(service, "where is my order", sender="stranger")
    reply = await say(service, "我想了解一下退货政策", sender="stranger")
    assert reply.kind != "ask" and kb.questions[-1] == "我想了解一下退货政策"
    assert (await conversations.conversation_for("rest", "stranger")).slots.pending is None


async def test_a_question_of_the_customers_own_replaces_the_pending_question(service, kb):
    await say(service, "where is my order")
    reply = await say(service, "Do you ship to Canada?")
    assert reply.kind == "answer" and "$14.95" in reply.text
    await say(service, "我的订单到哪了", sender="zh-gus")
    reply = await say(service, "退款要多久？", sender="zh-gus")
    assert reply.kind == "answer" and kb.questions[-1] == "退款要多久？"


async def test_chinese_yes_confirms_a_cancel_and_cites_a_chinese_policy(service, stores, kb):
    _, backend = stores
    order = await backend.find_order("12346")
    ask = await say(service, "取消我的订单 12346")
    assert ask.kind == "ask"
    assert ask.text == CONFIRM_CANCEL["zh"].format(number="12346", items=order.items[0].title, total=order.total)
    done = await say(service, "好的，取消吧")
    assert done.kind == "order"
    assert done.text.startswith(OUTCOMES_ZH["cancelled"].format(number="12346", total=order.total))
    assert kb.questions[-1] == "取消订单后，退款多久能到账？" and done.sources  # asked, and cited, in Chinese
    assert (await backend.find_order("12346")).status == "cancelled"


async def test_bare_chinese_cancel_is_a_yes_to_shall_i_cancel(service, stores):
    _, backend = stores
    await say(service, "取消我的订单 12346")
    done = await say(service, "取消")
    assert done.kind == "order" and "已取消" in done.text
    assert (await backend.find_order("12346")).status == "cancelled"


@pytest.mark.parametrize("answer", ["不用了，谢谢", "好的，不取消了", "算了", "不不不，取消吧"])
async def test_chinese_no_or_any_negation_keeps_the_order(service, stores, answer):
    _, backend = stores
    await say(service, "取消我的订单 12346")
    kept = await say(service, answer)
    assert kept.kind == "order" and kept.text == KEPT["zh"].format(number="12346")
    assert (await backend.find_order("12346")).status == "processing"


async def test_a_question_instead_of_yes_or_no_is_routed_and_cancels_nothing(service, stores, kb):
    _, backend = stores
    await say(service, "取消我的订单 12346")
    reply = await say(service, "取消以后退款多久到账？")
    assert reply.kind == "answer" and kb.questions[-1] == "取消以后退款多久到账？"
    assert (await backend.find_order("12346")).status == "processing"


async def test_unclear_chinese_reply_to_the_confirmation_is_asked_again(service, stores):
    _, backend = stores
    await say(service, "取消我的订单 12346")
    again = await say(service, "嗯我想想")
    assert again.kind == "ask" and again.text == ASK_AGAIN["confirm"]["zh"].format(number="12346")
    assert (await backend.find_order("12346")).status == "processing"


async def test_a_refused_chinese_cancel_is_told_in_chinese(service):
    reply = await say(service, "取消我的订单 12345")
    assert reply.kind == "order" and reply.text == OUTCOMES_ZH["already_shipped"].format(number="12345")
