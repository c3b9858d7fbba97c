"""The server with real models, a real index and real SQLite, over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.server import create_app
from core.settings import Settings

pytestmark = pytest.mark.integration

RETURN_QUESTION = "How many days do I have to return an item?"


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture
async def client(aiohttp_client, settings, sample_answerer):
    return await aiohttp_client(create_app(settings, answerer=sample_answerer))


async def post(client, body, **kwargs):
    kwargs.setdefault("headers", {"Content-Type": "application/json"})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await client.post("/webhooks/rest/webhook", data=data, **kwargs)


async def test_return_question_gets_cited_answer(client):
    response = await post(client, {"sender": "alice", "message": RETURN_QUESTION})
    assert response.status == 200
    [message] = await response.json()
    assert message["recipient_id"] == "alice"
    assert "30 days" in message["text"]
    custom = message["custom"]
    assert custom["confidence"] >= 0.6
    [source] = custom["sources"]
    assert set(source) >= {"document", "title", "passage", "score"}
    assert message["text"].split(".")[0] in source["passage"]  # the answer quotes its source
    assert "return" in (source["document"] + source["section"]).lower()


async def test_off_topic_question_is_not_guessed(client):
    response = await post(client, {"sender": "bob", "message": "Who won the football game last night?"})
    [message] = await response.json()
    assert message["custom"]["sources"] == []
    assert "not sure" in message["text"].lower()
    assert message["custom"]["confidence"] < 0.45


async def test_chinese_question_answered_from_chinese_policy(client):
    response = await post(client, {"sender": "li", "message": "退货期限是多少天？"})
    [message] = await response.json()
    assert "30" in message["text"]
    assert message["custom"]["sources"][0]["document"].endswith(".zh.md")


async def test_conversation_is_stored_and_readable(client, settings):
    first = await (await post(client, {"sender": "carol", "message": RETURN_QUESTION})).json()
    await post(client, {"sender": "carol", "message": "Can I pay with PayPal?"})
    conversation_id = first[0]["custom"]["conversation_id"]
    history = await (await client.get(f"/api/conversations/{conversation_id}")).json()
    # An unauthenticated REST sender is an anonymous stranger, kept apart from the integration's senders.
    assert history["channel"] == "rest" and history["sender"] == "anonymous:carol"
    roles = [t["role"] for t in history["turns"]]
    assert roles == ["customer", "bot", "customer", "bot"]
    assert history["turns"][0]["text"] == RETURN_QUESTION
    assert history["turns"][1]["custom"]["sources"]


async def test_conversations_survive_a_restart(aiohttp_client, settings, sample_answerer):
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer))
    reply = await (await post(client, {"sender": "dave", "message": RETURN_QUESTION})).json()
    conversation_id = reply[0]["custom"]["conversation_id"]
    await client.close()
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer))
    history = await (await client.get(f"/api/conversations/{conversation_id}")).json()
    assert len(history["turns"]) == 2


@pytest.mark.parametrize(
    "body, status",
    [
        ({"sender": "x", "message": ""}, 400),
        ({"sender": "x", "message": "   \n\t "}, 400),
        ({"sender": "x", "message": "a" * 3000}, 413),
        ({"sender": "x", "message": "a" * 1_000_000}, 413),
        ({"sender": "x"}, 400),
        ({"message": "hi"}, 400),
        ({"sender": "x", "message": 42}, 400),
        ([1, 2], 400),
        (b"\xff\xfe\x00binary", 400),
        ("{not json", 400),
    ],
)
async def test_bad_input_gets_clear_4xx_and_stores_nothing(client, body, status):
    response = await post(client, body)
    assert response.status == status
    error = await response.json()
    assert error["error"] and error["message"]
    # The server keeps serving, and the rejected message was not stored as a turn.
    ok = await post(client, {"sender": "x", "message": RETURN_QUESTION})
    [message] = await ok.json()
    history = await (await client.get(f"/api/conversations/{message['custom']['conversation_id']}")).json()
    assert [t["text"] for t in history["turns"] if t["role"] == "customer"] == [RETURN_QUESTION]


async def test_wrong_content_type_and_unknown_route(client):
    response = await client.post("/webhooks/rest/webhook", data="sender=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
    response = await client.get("/no/such/route")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    assert (await client.get("/api/conversations/does-not-exist")).status == 404


async def test_health_and_rest_status(client):
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert (await (await client.get("/webhooks/rest/")).json()) == {"status": "ok"}


async def test_demo_page_and_widget_served(client):
    page = await client.get("/")
    assert page.status == 200
    assert "/static/widget.js" in await page.text()
    script = await client.get("/static/widget.js")
    assert script.status == 200


async def test_websocket_protocol(client):
    ws = await client.ws_connect("/ws?sender=web-user-1")
    hello = await ws.receive_json()
    # A session the server issues (the claimed sender is ignored); the conversation starts with the first message.
    assert hello["type"] == "hello" and hello["session"].startswith("v1.") and hello["conversation_id"] is None
    await ws.send_json({"type": "message", "text": RETURN_QUESTION})
    reply = await ws.receive_json()
    assert reply["type"] == "reply" and "30 days" in reply["text"] and reply["sources"] and reply["conversation_id"]
    await ws.send_json({"type": "message", "text": "  "})
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_str("not json")
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_bytes(b"\x00\x01")
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_json({"type": "message", "text": "Can I pay with PayPal?"})
    assert (await ws.receive_json())["type"] == "reply"
    await ws.close()


async def test_concurrent_conversations_are_batched_and_kept_apart(client):
    questions = [RETURN_QUESTION, "Can I pay with PayPal?", "How do I reset my password?", "Do you ship to Europe?"] * 4
    responses = await asyncio.gather(*(post(client, {"sender": f"user-{i}", "message": q}) for i, q in enumerate(questions)))
    bodies = [(await r.json())[0] for r in responses]
    assert all(r.status == 200 for r in responses)
    assert [b["recipient_id"] for b in bodies] == [f"user-{i}" for i in range(len(questions))]
    assert len({b["custom"]["conversation_id"] for b in bodies}) == len(questions)
    assert all("30 days" in b["text"] for b, q in zip(bodies, questions) if q == RETURN_QUESTION)
