"""The Rasa actions through rasa-sdk's own ActionExecutor, with full action requests as Rasa sends them,
fake models and a real (temporary) SQLite conversation store."""

from __future__ import annotations

import threading

import pytest
from platforms import rasa_action_call
from rasa_sdk.interfaces import ActionNotFoundException

from bot.conversations import SQLiteConversationStore
from connectors.rasa_actions import (
    HANDOFF_FAILED,
    NO_QUESTION,
    NO_REQUEST,
    build_action_executor,
    create_action_app,
)
from core.settings import Settings
from core.types import Reply, Source
from core.wording import HANDOFF_TEXT, SORRY
from knowledge_base.catalog import Constraints, Product, Recommendations

RETURN_QUESTION = "How many days do I have to return an item?"
RETURN_SOURCE = Source(
    document="sample_store/returns.md",
    title="Returns & Refunds",
    passage="You have 30 days from delivery to return an item.",
    score=2.5,
    title_path=("Returns & Refunds", "Return window"),
)
LAPTOPS = (
    Product("NW-LAP-0005", "Aster Book 15 Laptop, 8GB RAM, 256GB SSD", "Laptops", 429.0, "USD", 161, 11),
    Product("NW-LAP-0001", "Corvid Go 14 Laptop, 8GB RAM, 256GB SSD, Silver", "Laptops", 549.0, "USD", 16, 7),
)


class FakeAnswerer:
    def __init__(self):
        self.questions: list[str] = []
        self.threads: list[str] = []
        self.fail = False

    def answer(self, question: str) -> Reply:
        self.questions.append(question)
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("model exploded")
        if "return" in question:
            return Reply("You have 30 days from delivery to return an item.", (RETURN_SOURCE,), 0.93456, "answer",
                         {"passage_cosine": 0.8, "candidates": []})
        return Reply("I'm not sure I found the right answer to that.", confidence=0.21, kind="not_sure")


class FakeRecommender:
    def __init__(self):
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.threads: list[str] = []

    def run(self, request, *, max_results=None, history=()):
        self.calls.append((request, tuple(history)))
        self.threads.append(threading.current_thread().name)
        if "laptop" in request:
            return Recommendations(LAPTOPS, Constraints(max_price=800.0, categories=("Laptops",)))
        return Recommendations((), Constraints(max_price=5.0), unmet="price", price_range=(17.99, 2799.0))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, support_hours="We're here 9–5, Monday to Friday.")


@pytest.fixture
async def store(settings):
    store = SQLiteConversationStore(settings.database_path)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def answerer():
    return FakeAnswerer()


@pytest.fixture
def recommender():
    return FakeRecommender()


@pytest.fixture
def executor(settings, answerer, recommender, store):
    executor, resources = build_action_executor(settings, answerer=answerer, recommender=recommender, store=store)
    yield executor
    resources.pool.shutdown()


def message(text: str, custom: dict | None = None) -> dict:
    """One entry of the response's "responses", as CollectingDispatcher.utter_message builds it."""
    return {"text": text, "buttons": [], "elements": [], "custom": custom or {}, "template": None, "response": None,
            "image": None, "attachment": None}


def slot(name: str, value) -> dict:
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


async def run(executor, call: dict) -> dict:
    result = await executor.run(call)
    return result.model_dump()


def test_the_three_actions_are_registered(executor):
    assert [a.name for a in executor.list_actions()] == [
        "action_answer_from_knowledge_base", "action_recommend_products", "action_handoff_to_human",
    ]


async def test_unknown_action_is_rasa_sdks_not_found(executor):
    with pytest.raises(ActionNotFoundException) as caught:
        await executor.run(rasa_action_call("action_does_not_exist", "hi"))
    assert caught.value.action_name == "action_does_not_exist"


# ---------------------------------------------------------------- knowledge base


async def test_answer_with_sources_and_slots(executor, answerer):
    result = await run(executor, rasa_action_call("action_answer_from_knowledge_base", RETURN_QUESTION))
    assert result == {
        "responses": [
            message(
                "You have 30 days from delivery to return an item.",
                {
                    "sources": [{
                        "document": "sample_store/returns.md",
                        "title": "Returns & Refunds",
                        "section": "Return window",
                        "passage": "You have 30 days from delivery to return an item.",
                        "score": 2.5,
                    }],
                    "confidence": 0.9346,
                    "kind": "answer",
                },
            )
        ],
        "events": [slot("kb_answer_found", True), slot("kb_confidence", 0.9346), slot("kb_source", "sample_store/returns.md")],
    }
    assert answerer.questions == [RETURN_QUESTION]
    # The model ran on the action server's inference threads, not on the event loop's.
    assert answerer.threads[0].startswith("rasa-actions") and answerer.threads[0] != threading.current_thread().name


async def test_not_sure_answer_is_passed_on_and_flagged(executor):
    result = await run(executor, rasa_action_call("action_answer_from_knowledge_base", "who won the game last night?"))
    assert result == {
        "responses": [message("I'm not sure I found the right answer to that.", {"sources": [], "confidence": 0.21, "kind": "not_sure"})],
        "events": [slot("kb_answer_found", False), slot("kb_confidence", 0.21), slot("kb_source", None)],
    }


@pytest.mark.parametrize("text", [None, "", "   \n ", "\x00"])
async def test_no_question_gets_a_polite_reply(executor, answerer, text):
    result = await run(executor, rasa_action_call("action_answer_from_knowledge_base", text))
    assert result == {
        "responses": [message(NO_QUESTION)],
        "events": [slot("kb_answer_found", False), slot("kb_confidence", 0.0), slot("kb_source", None)],
    }
    assert answerer.questions == []


async def test_missing_latest_message_does_not_crash(executor):
    call = rasa_action_call("action_answer_from_knowledge_base", None)
    call["tracker"]["latest_message"] = None
    result = await run(executor, call)
    assert result["responses"] == [message(NO_QUESTION)]


async def test_too_long_question_says_so(executor, answerer, settings):
    text = "why " * 600
    result = await run(executor, rasa_action_call("action_answer_from_knowledge_base", text))
    length = len(text.strip())
    assert result["responses"] == [
        message(f"That message is too long for me ({length} characters; the limit is {settings.max_message_chars}). Could you say it in fewer words?")
    ]
    assert result["events"][0] == slot("kb_answer_found", False)
    assert answerer.questions == []


async def test_failing_model_apologises_instead_of_500(executor, answerer):
    answerer.fail = True
    result = await run(executor, rasa_action_call("action_answer_from_knowledge_base", RETURN_QUESTION))
    assert result == {
        "responses": [message(SORRY)],
        "events": [slot("kb_answer_found", False), slot("kb_confidence", 0.0), slot("kb_source", None)],
    }


# ---------------------------------------------------------------- recommendations


async def test_recommendations_list_products_with_payload_and_slot(executor, recommender):
    call = rasa_action_call("action_recommend_products", "I need a laptop for school under $800",
                       earlier=("hi", "do you sell laptops?", "what's your return policy?", "and warranty?"))
    result = await run(executor, call)
    assert result == {
        "responses": [
            message(
                "Here are some options in Laptops under $800 that are in stock:\n"
                "- Aster Book 15 Laptop, 8GB RAM, 256GB SSD (SKU NW-LAP-0005) — $429.00\n"
                "- Corvid Go 14 Laptop, 8GB RAM, 256GB SSD, Silver (SKU NW-LAP-0001) — $549.00",
                {
                    "products": [
                        {"sku": "NW-LAP-0005", "title": "Aster Book 15 Laptop, 8GB RAM, 256GB SSD", "price": 429.0,
                         "currency": "USD", "category": "Laptops"},
                        {"sku": "NW-LAP-0001", "title": "Corvid Go 14 Laptop, 8GB RAM, 256GB SSD, Silver", "price": 549.0,
                         "currency": "USD", "category": "Laptops"},
                    ]
                },
            )
        ],
        "events": [slot("recommended_skus", ["NW-LAP-0005", "NW-LAP-0001"])],
    }
    # The last three earlier customer messages, oldest first, without the one being handled.
    assert recommender.calls == [
        ("I need a laptop for school under $800", ("do you sell laptops?", "what's your return policy?", "and warranty?"))
    ]
    assert recommender.threads[0].startswith("rasa-actions")


async def test_no_fitting_product_says_which_constraint(executor):
    result = await run(executor, rasa_action_call("action_recommend_products", "anything under $5"))
    assert result == {
        "responses": [message("I couldn't find anything under $5: the lowest price in our catalog is $17.99.", {"products": []})],
        "events": [slot("recommended_skus", [])],
    }


async def test_empty_recommendation_request(executor, recommender):
    result = await run(executor, rasa_action_call("action_recommend_products", " "))
    assert result == {"responses": [message(NO_REQUEST)], "events": [slot("recommended_skus", [])]}
    assert recommender.calls == []


# ---------------------------------------------------------------- handoff


async def test_handoff_pauses_rasa_and_reaches_the_agent_console(executor, store):
    call = rasa_action_call("action_handoff_to_human", "I want to talk to a person", sender="rasa-user-7",
                       earlier=("where is my refund?",))
    result = await run(executor, call)
    assert result == {
        "responses": [
            message(
                "Of course. I'm passing this conversation to a member of our support team; they'll reply right here. "
                "We're here 9–5, Monday to Friday.",
                {"kind": "handoff", "handoff": {"reason": "contact_human_agent", "owner": "human"}},
            )
        ],
        "events": [slot("handoff_requested", True), {"event": "pause", "timestamp": None}],
    }
    assert HANDOFF_TEXT["contact_human_agent"]["en"] in result["responses"][0]["text"]

    [waiting] = await store.handoffs()  # what GET /api/handoffs lists
    assert (waiting.channel, waiting.sender, waiting.owner, waiting.handoff_reason) == (
        "rasa", "rasa-user-7", "human", "contact_human_agent",
    )
    customer, system = await store.history(waiting.conversation_id)
    assert (customer.role, customer.text, customer.payload) == ("customer", "I want to talk to a person", {"channel": "rasa"})
    assert system.role == "system"
    assert system.payload["event"] == "handoff" and system.payload["reason"] == "contact_human_agent"
    assert system.payload["rasa_transcript"] == [
        {"role": "customer", "text": "where is my refund?"},
        {"role": "bot", "text": "(reply to where is my refund?)"},
        {"role": "customer", "text": "I want to talk to a person"},
    ]


async def test_second_handoff_reuses_the_conversation(executor, store):
    await run(executor, rasa_action_call("action_handoff_to_human", "human please", sender="s"))
    await run(executor, rasa_action_call("action_handoff_to_human", "hello??", sender="s"))
    [waiting] = await store.handoffs()
    assert [t.text for t in await store.history(waiting.conversation_id) if t.role == "customer"] == ["human please", "hello??"]


async def test_handoff_without_support_hours(tmp_path, store):
    executor, resources = build_action_executor(
        Settings(data_dir=tmp_path, support_hours=""), answerer=FakeAnswerer(), recommender=FakeRecommender(), store=store
    )
    result = await run(executor, rasa_action_call("action_handoff_to_human", None))
    assert result["responses"][0]["text"] == HANDOFF_TEXT["contact_human_agent"]["en"]
    [waiting] = await store.handoffs()
    assert [t.role for t in await store.history(waiting.conversation_id)] == ["system"]  # no empty customer turn
    resources.pool.shutdown()


async def test_chinese_customer_is_told_of_the_handoff_in_chinese(executor):
    result = await run(executor, rasa_action_call("action_handoff_to_human", "我要找人工客服", sender="zh-user"))
    assert result["responses"][0]["text"] == HANDOFF_TEXT["contact_human_agent"]["zh"] + " We're here 9–5, Monday to Friday."


async def test_unrecorded_handoff_does_not_pause(settings):
    closed = SQLiteConversationStore(settings.database_path)  # never opened: every call fails
    executor, resources = build_action_executor(settings, answerer=FakeAnswerer(), recommender=FakeRecommender(), store=closed)
    result = await run(executor, rasa_action_call("action_handoff_to_human", "a person please"))
    assert result == {"responses": [message(HANDOFF_FAILED)], "events": [slot("handoff_requested", False)]}
    resources.pool.shutdown()


# ---------------------------------------------------------------- wiring


async def test_resources_open_and_close_once(settings):
    store = SQLiteConversationStore(settings.database_path)
    executor, resources = build_action_executor(settings, answerer=FakeAnswerer(), recommender=FakeRecommender(), store=store)
    await resources.open()
    result = await run(executor, rasa_action_call("action_handoff_to_human", "help"))
    assert result["events"][0] == slot("handoff_requested", True)
    # Sanic may run after_server_stop listeners twice on shutdown; closing must survive that.
    await resources.close()
    await resources.close()
    assert resources.pool.executor._shutdown


def test_the_app_is_rasa_sdks_endpoint(settings):
    executor, resources = build_action_executor(settings, answerer=FakeAnswerer(), recommender=FakeRecommender(),
                                                store=SQLiteConversationStore(settings.database_path))
    from sanic import Sanic

    test_mode, Sanic.test_mode = Sanic.test_mode, True  # an app named "rasa_sdk" may already exist
    try:
        app = create_action_app(executor, resources)
        routes = {(route.path, tuple(sorted(route.methods))) for route in app.router.routes}
        assert {("webhook", ("POST",)), ("actions", ("GET",)), ("health", ("GET",))} <= routes
    finally:
        Sanic._app_registry.pop("rasa_sdk", None)
        Sanic.test_mode = test_mode
        resources.pool.shutdown()



def test_port_in_use_is_a_one_line_error():
    import socket

    from connectors.rasa_actions import check_port_free
    from core.errors import ConfigurationError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}"):
            check_port_free("127.0.0.1", port)


def test_actions_command_line(monkeypatch, tmp_path):
    import bot.assembly
    from bot.__main__ import build_parser, main

    args = build_parser().parse_args(["actions"])
    assert (args.command, args.host, args.actions_port, args.ingest_if_missing) == ("actions", None, 5055, False)

    served = []
    monkeypatch.setattr(bot.assembly, "serve_actions", lambda settings, host, port: served.append((settings, host, port)))
    for name in ("BOT_HOST", "BOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_PORT", "8081")
    assert main(["--data-dir", str(tmp_path), "actions", "--host", "0.0.0.0", "--port", "6000"]) == 0
    [(settings, host, port)] = served
    assert (settings.data_dir, host, port) == (tmp_path, "0.0.0.0", 6000)
    assert settings.port == 8081  # the dialogue server's port is not the action server's
    assert main(["--data-dir", str(tmp_path), "actions"]) == 0
    assert served[-1][1:] == ("127.0.0.1", 5055)
