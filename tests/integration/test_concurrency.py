"""Many customers at once, against the real server.

The first test runs the default configuration exactly as `make run` builds it (create_app from
Settings: MiniLM, FAISS, BM25, the intent model, SmolLM2 with the tuned adapter, SQLite): customers
ask at the same moment over REST and the widget's WebSocket and each gets a correct, cited reply.
The others put a generator that hangs or raises, and an answer pipeline that stalls, behind the real
server. Correctness only: timings are in bench/http_latency.py. Every wait is bounded, so a deadlock
fails a test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from fakes import LockingGenerator

from answering.grounding import GroundingStats
from answering.phrasing import ReplyWriter
from bot.app_state import DIALOGUE, STORE
from bot.server import create_app
from core.settings import Settings
from core.types import Reply

pytestmark = pytest.mark.integration

BOUND = 120.0
# (question, what the right reply contains): the sample store's policies.
QUESTIONS = [
    ("How many days do I have to return an item?", "30 days"),
    ("Do you ship to Canada?", "Canada"),
    ("Can I pay with PayPal?", "PayPal"),
    # Both sentences of the "I Forgot My Password" passage answer it ("click Forgot password", "we send
    # you a password reset link"); which one the int8 embedder ranks first varies with its export.
    ("How do I reset my password?", "password"),
    ("How long do refunds take?", "business days"),
    ("Is there a warranty on laptops?", "2-year"),
    ("When is customer support open?", "Monday to Friday"),
    ("How much does express shipping cost?", "$14.95"),
]
UNANSWERABLE = ["Do you sell helicopters?", "Can you fix my neighbour's tractor?"]


async def rest(client, sender: str, text: str) -> dict:
    response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert response.status == 200, await response.text()
    [message] = await response.json()
    return message


async def widget(client, sender: str, text: str) -> dict:
    """One widget customer: connect, ask, read token frames until the reply frame."""
    ws = await client.ws_connect(f"/ws?sender={sender}")
    try:
        assert (await ws.receive_json(timeout=BOUND))["type"] == "hello"
        await ws.send_str(json.dumps({"type": "message", "text": text}))
        frame = await ws.receive_json(timeout=BOUND)
        while frame["type"] == "token":
            frame = await ws.receive_json(timeout=BOUND)
        return frame
    finally:
        await ws.close()


def assert_cited(text: str, custom: dict, expected: str) -> None:
    assert custom["kind"] == "answer" and custom["sources"], (text, custom)
    assert expected in text, text
    assert expected in " ".join(s["passage"] for s in custom["sources"])  # the cited passage states it


@pytest.fixture
async def default_client(aiohttp_client, data_dir):
    """The server as `make run` builds it: nothing injected, every model from settings (generator on)."""
    settings = Settings(data_dir=data_dir)
    assert settings.generator_enabled
    return await aiohttp_client(create_app(settings))


async def test_default_server_answers_customers_who_ask_at_once(default_client):
    client = default_client
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["generator"]["available"], health

    async def everyone():
        return await asyncio.gather(
            *(rest(client, f"rest-{i}", q) for i, (q, _) in enumerate(QUESTIONS)),
            *(widget(client, f"web-{i}", q) for i, (q, _) in enumerate(QUESTIONS)),
            # Fallbacks are written by the tuned LM: generations run while the others are answered.
            *(rest(client, f"rest-x{i}", q) for i, q in enumerate(UNANSWERABLE)),
            *(widget(client, f"web-x{i}", q) for i, q in enumerate(UNANSWERABLE)),
        )

    replies = await asyncio.wait_for(everyone(), BOUND)
    n = len(QUESTIONS)
    for (question, expected), message in zip(QUESTIONS, replies[:n]):
        assert_cited(message["text"], message["custom"], expected)
    for (question, expected), frame in zip(QUESTIONS, replies[n:2 * n]):
        assert frame["type"] == "reply", frame
        assert_cited(frame["text"], frame, expected)
    for message in replies[2 * n:2 * n + len(UNANSWERABLE)]:
        assert message["custom"]["kind"] == "not_sure", message
    for frame in replies[2 * n + len(UNANSWERABLE):]:
        assert frame["type"] == "reply" and frame["kind"] == "not_sure", frame

    # With phrasing on (the configuration that deadlocked), customers at once still all get replies.
    client.app[DIALOGUE].writer.phrase_answers = True
    phrased = await asyncio.wait_for(asyncio.gather(
        *(rest(client, f"phrase-{i}", q) for i, (q, _) in enumerate(QUESTIONS[:4])),
        *(widget(client, f"phrase-web-{i}", q) for i, (q, _) in enumerate(QUESTIONS[4:])),
    ), BOUND)
    for (question, expected), message in zip(QUESTIONS[:4], phrased[:4]):
        assert message["custom"]["kind"] == "answer" and message["custom"]["sources"], message
    for frame in phrased[4:]:
        assert frame["type"] == "reply" and frame["kind"] == "answer", frame
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["skipped"]["phrasing"]["ran"] >= 1, health

    # Every customer's turn and reply were stored once.
    store = client.app[STORE]
    for i in range(n):
        conversation = await store.conversation_for("rest", f"anonymous:rest-{i}")  # unauthenticated REST senders
        assert [t.role for t in await store.history(conversation.conversation_id)] == ["customer", "bot"]


@pytest.mark.parametrize("broken", ["hangs", "raises"])
async def test_a_generator_that_hangs_or_raises_does_not_stop_other_replies(aiohttp_client, data_dir, sample_answerer,
                                                                            sample_intents, broken):
    generator = LockingGenerator(hang=broken == "hangs", fail=broken == "raises")
    writer = ReplyWriter(generator, stats=GroundingStats())
    settings = Settings(data_dir=data_dir, phrase_answers=True, generation_max_waiting=16,
                        reply_budget_widget_first_visible_seconds=1.0)
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents, writer=writer))
    try:
        replies = await asyncio.wait_for(asyncio.gather(
            *(rest(client, f"r{i}", q) for i, (q, _) in enumerate(QUESTIONS)),
            *(widget(client, f"w{i}", q) for i, (q, _) in enumerate(QUESTIONS[:4])),
        ), BOUND)
        for (question, expected), message in zip(QUESTIONS, replies[:len(QUESTIONS)]):
            assert_cited(message["text"], message["custom"], expected)  # the extractive reply, in time
            assert message["custom"]["phrasing"]["generated"] is False
        for (question, expected), frame in zip(QUESTIONS, replies[len(QUESTIONS):]):
            assert frame["type"] == "reply"
            assert_cited(frame["text"], frame, expected)
        health = await (await client.get("/health")).json()
        assert health["generator"]["available"] and health["status"] == "ok"
    finally:
        generator.release.set()


async def test_a_stalled_answer_pipeline_turns_health_degraded_and_customers_get_an_honest_reply(aiohttp_client, data_dir):
    release = threading.Event()

    class StuckAnswerer:
        def answer_many(self, questions):
            release.wait(30)  # a model call that never returns (until the test lets it)
            return [Reply("You have 30 days.", confidence=0.9) for _ in questions]

    settings = Settings(data_dir=data_dir, reply_budget_rest_seconds=0.5, watchdog_stall_seconds=0.3)
    client = await aiohttp_client(create_app(settings, answerer=StuckAnswerer()))
    try:
        message = await asyncio.wait_for(rest(client, "late", "How long do I have to return an item?"), BOUND)
        assert message["custom"]["kind"] == "error" and "in time" in message["text"]
        await asyncio.sleep(0.4)
        response = await client.get("/health")
        health = await response.json()
        assert response.status == 503 and health["status"] == "degraded" and "answers" in health["degraded"], health
    finally:
        release.set()
    for _ in range(100):  # the stage moves again: healthy again
        response = await client.get("/health")
        if response.status == 200:
            break
        await asyncio.sleep(0.05)
    assert response.status == 200 and (await response.json())["status"] == "ok"
