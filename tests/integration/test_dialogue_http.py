"""Intents, order actions, handoff and rate limits through the real server: real MiniLM, the shipped
intent model, FAISS, BM25, the SQLite conversation store and the SQLite sample back end."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.server import create_app
from core.settings import Settings

pytestmark = pytest.mark.integration
INTEGRATION_TOKEN = "integration-secret-for-tests"


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(data_dir=data_dir, rate_limit_burst=10, rate_limit_per_minute=30, rest_auth_token=INTEGRATION_TOKEN)


@pytest.fixture
async def client(aiohttp_client, settings, sample_answerer, sample_intents):
    return await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))


async def say(client, sender: str, text: str, *, authenticated: bool = False) -> list[dict]:
    """A REST message; `authenticated`: sent by the store's integration, which vouches for the sender."""
    headers = {"Authorization": f"Bearer {INTEGRATION_TOKEN}"} if authenticated else {}
    response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_scripted_order_status_then_handoff_then_handback(client):
    # The store's integration vouches for its logged-in customer "ana-lima", linked to her account.
    [asked] = await say(client, "ana-lima", "where is my order", authenticated=True)
    assert asked["custom"]["kind"] == "ask" and "order number" in asked["text"]
    assert asked["custom"]["intent"]["name"] == "track_order" and asked["custom"]["route"] == "order_action"

    [status] = await say(client, "ana-lima", "it's 12345", authenticated=True)
    assert status["custom"]["kind"] == "order"
    assert "12345" in status["text"] and "UPS" in status["text"] and "1Z999AA10123456784" in status["text"]

    [handoff] = await say(client, "ana-lima", "I want to talk to a person", authenticated=True)
    assert handoff["custom"]["kind"] == "handoff"
    assert handoff["custom"]["handoff"]["reason"] == "contact_human_agent"
    conversation_id = handoff["custom"]["conversation_id"]

    # The bot stays silent, and keeps what the customer writes for the agent.
    assert await say(client, "ana-lima", "hello? is anyone there?", authenticated=True) == []
    assert await say(client, "ana-lima", "How many days do I have to return an item?", authenticated=True) == []

    listed = await (await client.get("/api/handoffs")).json()
    [waiting] = listed["handoffs"]
    assert waiting["conversation_id"] == conversation_id and waiting["handoff_reason"] == "contact_human_agent"
    assert waiting["recent_turns"][-1]["text"] == "How many days do I have to return an item?"

    response = await client.post(f"/api/conversations/{conversation_id}/handback")
    assert response.status == 200 and (await response.json())["owner"] == "bot"
    assert (await (await client.get("/api/handoffs")).json())["handoffs"] == []

    [answer] = await say(client, "ana-lima", "How many days do I have to return an item?", authenticated=True)
    assert "30 days" in answer["text"] and answer["custom"]["kind"] == "answer"
    assert answer["custom"]["route"] == "knowledge_question"
    [greeting] = await say(client, "ana-lima", "thanks!", authenticated=True)
    assert greeting["custom"]["route"] == "small_talk"


async def test_another_customers_order_is_not_revealed(client):
    [asked] = await say(client, "mallory", "where is my order 12345")
    assert asked["custom"]["kind"] == "ask" and "e-mail" in asked["text"]
    [refused] = await say(client, "mallory", "mallory@example.com")
    for leaked in ("UPS", "Rain Jacket", "Portland", "1Z999", "ana"):
        assert leaked not in refused["text"]
    history = await (await client.get(f"/api/conversations/{refused['custom']['conversation_id']}")).json()
    assert "verified_email" not in history["slots"]


async def test_email_proof_unlocks_the_order(client):
    await say(client, "ana-on-phone", "where is my order 12345")
    [status] = await say(client, "ana-on-phone", "it's ana.lima@example.com")
    assert status["custom"]["kind"] == "order" and "UPS" in status["text"]


async def test_follow_up_question_uses_the_earlier_destination(client):
    await say(client, "traveller", "Do you ship to Canada?")
    [reply] = await say(client, "traveller", "and how much does it cost to ship there?")
    assert reply["custom"]["resolved_question"] == "How much does it cost to ship to Canada?"
    assert "$14.95" in reply["text"]


async def test_policy_question_still_answered_with_citation(client):
    [reply] = await say(client, "policy", "How many days do I have to return an item?")
    assert "30 days" in reply["text"] and reply["custom"]["sources"]


async def test_gibberish_gets_a_sensible_reply(client):
    [reply] = await say(client, "typist", "asdkjh qwe zzzz")
    assert reply["custom"]["kind"] == "not_sure"
    assert "rephrase" in reply["text"] and "person" in reply["text"]


async def test_flooding_sender_is_slowed_while_others_are_served(client):
    async def flood(i):
        return await client.post("/webhooks/rest/webhook", json={"sender": "flooder", "message": f"Do you ship to Canada? {i}"})

    responses = await asyncio.gather(*(flood(i) for i in range(20)))
    statuses = [r.status for r in responses]
    assert statuses.count(200) == 10 and statuses.count(429) == 10
    limited = next(r for r in responses if r.status == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["error"] == "too_many_requests"
    # Someone else is answered normally at the same time.
    [reply] = await say(client, "patient", "Do you ship to Canada?")
    assert "Canada" in reply["text"]
    # Only the accepted messages were stored.
    conversation_id = (await responses[statuses.index(200)].json())[0]["custom"]["conversation_id"]
    history = await (await client.get(f"/api/conversations/{conversation_id}")).json()
    assert sum(1 for t in history["turns"] if t["role"] == "customer") == 10


async def test_handback_errors(client):
    response = await client.post("/api/conversations/nope/handback")
    assert response.status == 404
    [reply] = await say(client, "happy", "hello")
    response = await client.post(f"/api/conversations/{reply['custom']['conversation_id']}/handback")
    assert response.status == 400 and "not with a person" in (await response.json())["message"]


async def test_agent_api_needs_the_token_when_one_is_set(aiohttp_client, data_dir, sample_answerer, sample_intents):
    settings = Settings(data_dir=data_dir, agent_api_token="s3cret")
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))
    assert (await client.get("/api/handoffs")).status == 401
    assert (await client.get("/api/handoffs", headers={"Authorization": "Bearer wrong"})).status == 401
    response = await client.get("/api/handoffs", headers={"Authorization": "Bearer s3cret"})
    assert response.status == 200 and (await response.json()) == {"handoffs": []}


async def test_websocket_says_waiting_while_a_person_has_the_conversation(client):
    async with client.ws_connect("/ws?sender=ws-customer") as ws:
        hello = await ws.receive_json()
        await ws.send_str(json.dumps({"type": "message", "text": "I want to talk to a person"}))
        handoff = await ws.receive_json()
        assert handoff["type"] == "reply" and handoff["kind"] == "handoff"
        await ws.send_str(json.dumps({"type": "message", "text": "still there?"}))
        waiting = await ws.receive_json()
        assert hello["conversation_id"] is None  # created by the first message, not by connecting
        assert waiting == {"type": "waiting", "conversation_id": handoff["conversation_id"], "owner": "human"}


async def test_chinese_tracking_handoff_and_complaint_route_in_chinese(client):
    """The shipped intent model (MiniLM plus multilingual-e5-small for Chinese) routes Chinese requests;
    the order flow asks and answers in Chinese; full-width digits are an order number."""
    [asked] = await say(client, "li-wei", "我的订单到哪了", authenticated=True)
    assert asked["custom"]["intent"]["name"] == "track_order" and asked["custom"]["kind"] == "ask"
    assert "订单号" in asked["text"]
    [proof] = await say(client, "li-wei", "订单号是１２３４５", authenticated=True)
    assert proof["custom"]["kind"] == "ask" and "邮箱" in proof["text"] and "12345" in proof["text"]

    [handoff] = await say(client, "li-wei", "我要找人工客服", authenticated=True)
    assert handoff["custom"]["kind"] == "handoff" and handoff["custom"]["handoff"]["reason"] == "contact_human_agent"
    assert "客服人员" in handoff["text"]

    [angry] = await say(client, "zhang-min", "你们的服务太差劲了，东西坏了没人管，我要投诉！！", authenticated=True)
    assert angry["custom"]["intent"]["name"] == "complaint"
    assert angry["custom"]["kind"] == "handoff" and angry["custom"]["handoff"]["reason"] == "angry_complaint"


async def test_a_chinese_policy_question_is_answered_from_the_chinese_policy(client):
    [answer] = await say(client, "wang-fang", "买的东西多少天内可以退货？", authenticated=True)
    assert answer["custom"]["kind"] == "answer" and "30 天" in answer["text"]
    assert answer["custom"]["sources"][0]["document"].endswith("returns.zh.md")
