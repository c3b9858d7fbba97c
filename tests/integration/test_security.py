"""Who is this customer? Each case an attacker tried, against the real server (real models, SQLite
stores, the sample back end): identities the client cannot forge, limits keyed on what it cannot
choose, messages neither lost nor doubled, and bad input that gets a clear 4xx."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3

import pytest

from bot.conversations import SQLiteConversationStore
from bot.server import create_app
from core.redact import install_log_redaction
from core.settings import Settings

pytestmark = pytest.mark.integration
TOKEN = "integration-secret-for-tests"
ORIGIN = "http://shop.example"
# Everything the sample store knows about order 12345, which belongs to ana.lima@example.com.
ORDER_DETAILS = ("UPS", "Rain Jacket", "1Z999", "Portland")


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(data_dir=data_dir, rest_auth_token=TOKEN, rate_limit_burst=50, rate_limit_per_minute=600,
                    client_rate_limit_burst=30, client_rate_limit_per_minute=60, session_issue_burst=40)


@pytest.fixture
async def client(aiohttp_client, settings, sample_answerer, sample_intents):
    return await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))


async def rest(client, sender: str, text: str, *, token: str | None = None, message_id: str | None = None,
               forwarded: str | None = None, status: int = 200):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    body = {"sender": sender, "message": text, **({"message_id": message_id} if message_id else {})}
    response = await client.post("/webhooks/rest/webhook", json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def open_ws(client, query: str = "", origin: str = ORIGIN):
    ws = await client.ws_connect("/ws" + query, headers={"Origin": origin})
    hello = await ws.receive_json(timeout=10)
    assert hello["type"] == "hello"
    return ws, hello


async def ws_say(ws, text: str, message_id: str | None = None) -> dict:
    await ws.send_json({"type": "message", "text": text, **({"message_id": message_id} if message_id else {})})
    while True:
        frame = await ws.receive_json(timeout=30)
        if frame["type"] in ("reply", "error", "waiting"):
            return frame


def conversation_rows(settings: Settings) -> int:
    with sqlite3.connect(settings.database_path) as db:
        return db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]


# ---------------------------------------------------------------- identity


async def test_an_unauthenticated_rest_sender_is_a_stranger_even_with_a_linked_name(client):
    # Seen: {"sender": "ana-lima"} returned the item, carrier and tracking number.
    [reply] = await rest(client, "ana-lima", "Where is my order 12345?")
    assert reply["custom"]["kind"] == "ask" and "e-mail" in reply["text"]
    assert not any(detail in reply["text"] for detail in ORDER_DETAILS)


async def test_the_integration_that_presents_the_rest_secret_is_trusted(client):
    [reply] = await rest(client, "ana-lima", "Where is my order 12345?", token=TOKEN)
    assert reply["custom"]["kind"] == "order" and "UPS" in reply["text"]
    # Anonymous callers claiming the same name do not share the integration's conversation (or its proofs).
    [anonymous] = await rest(client, "ana-lima", "Where is my order 12345?")
    assert anonymous["custom"]["conversation_id"] != reply["custom"]["conversation_id"]


async def test_a_wrong_rest_secret_is_refused(client):
    response = await client.post("/webhooks/rest/webhook", json={"sender": "x", "message": "hi"},
                                 headers={"Authorization": "Bearer guessed"})
    assert response.status == 401 and (await response.json())["error"] == "unauthorized"


async def test_the_widget_ignores_a_claimed_sender_and_issues_its_own_session(client):
    # Seen: /ws?sender=ana-lima got Ana's linked account.
    ws, hello = await open_ws(client, "?sender=ana-lima")
    assert hello["session"].startswith("v1.") and hello["conversation_id"] is None
    reply = await ws_say(ws, "Where is my order 12345?")
    assert reply["kind"] == "ask" and not any(detail in reply["text"] for detail in ORDER_DETAILS)
    await ws.close()


async def test_a_session_cannot_be_forged_or_moved_to_another_site(client):
    ws, hello = await open_ws(client)
    first = await ws_say(ws, "Where is my order 12345?")
    await ws_say(ws, "ana.lima@example.com")  # proved: this session may see the order now
    await ws.close()
    token = hello["session"]

    # The customer's own token, from the same site: the same conversation continues.
    ws, again = await open_ws(client, f"?session={token}")
    assert again["conversation_id"] == first["conversation_id"] and "new_session" not in again
    await ws.close()

    # A token with another session id written in (signature unchanged): a new session, a new conversation.
    version, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sid"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    ws, hello_forged = await open_ws(client, f"?session={version}.{forged}.{signature}")
    assert hello_forged["new_session"] is True and hello_forged["conversation_id"] is None
    reply = await ws_say(ws, "Where is my order 12345?")
    assert reply["conversation_id"] != first["conversation_id"] and not any(d in reply["text"] for d in ORDER_DETAILS)
    await ws.close()

    # The real token, presented by a page on another site: a new session too.
    ws, elsewhere = await open_ws(client, f"?session={token}", origin="http://evil.example")
    assert elsewhere["new_session"] is True and elsewhere["conversation_id"] is None
    await ws.close()


async def test_long_senders_are_refused_not_cut_into_someone_elses(client):
    # Seen: senders were cut to 128 characters, so two long senders sharing a prefix shared a conversation.
    prefix = "x" * 150
    [a] = await rest(client, prefix + "-alice", "hello")
    [b] = await rest(client, prefix + "-bob", "hello")
    assert a["custom"]["conversation_id"] != b["custom"]["conversation_id"]
    error = await rest(client, "y" * 300, "hello", status=400)
    assert "256" in error["message"]


async def test_connecting_creates_no_conversation(client, settings):
    # Seen: 1,000 connects made 1,000 conversation rows.
    before = conversation_rows(settings)
    for _ in range(20):
        ws, hello = await open_ws(client)
        assert hello["conversation_id"] is None
        await ws.close()
    assert conversation_rows(settings) == before
    ws, _ = await open_ws(client)
    await ws_say(ws, "hi")
    await ws.close()
    assert conversation_rows(settings) == before + 1


# ---------------------------------------------------------------- abuse limits


async def test_a_client_that_changes_its_sender_each_message_is_still_limited(client, settings):
    # Seen: 400 messages from one client with a new sender each all got 200.
    statuses = []
    for i in range(settings.client_rate_limit_burst + 10):
        response = await client.post("/webhooks/rest/webhook", json={"sender": f"bot-{i}", "message": "hi"})
        statuses.append(response.status)
    assert statuses[: settings.client_rate_limit_burst] == [200] * settings.client_rate_limit_burst
    assert set(statuses[settings.client_rate_limit_burst:]) == {429}
    limited = await client.post("/webhooks/rest/webhook", json={"sender": "bot-x", "message": "hi"})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(aiohttp_client, data_dir, sample_answerer):
    settings = Settings(data_dir=data_dir, client_rate_limit_burst=3, trusted_proxies=("127.0.0.1/32",))
    client = await aiohttp_client(create_app(settings, answerer=sample_answerer))
    # Behind the trusted proxy (the test client connects from 127.0.0.1), each forwarded client has its own budget.
    for address in ("203.0.113.1", "203.0.113.2"):
        for i in range(3):
            await rest(client, f"{address}-{i}", "hi", forwarded=f"198.51.100.9, {address}")
        await rest(client, f"{address}-x", "hi", forwarded=address, status=429)

    untrusted = await aiohttp_client(create_app(Settings(data_dir=data_dir, client_rate_limit_burst=3), answerer=sample_answerer))
    # Without trusted proxies, a forged header changes nothing: one connection, one budget.
    for i in range(3):
        await rest(untrusted, f"s-{i}", "hi", forwarded=f"203.0.113.{i}")
    await rest(untrusted, "s-x", "hi", forwarded="203.0.113.99", status=429)


async def test_guessing_an_orders_email_locks_the_order_whoever_asks(client):
    # Seen: guessing the e-mail of an order from a new sender per guess succeeded on the 9th try.
    for guess in range(5):
        sender = f"guesser-{guess}"
        await rest(client, sender, "Where is my order 12345?")
        [reply] = await rest(client, sender, f"guess{guess}@example.com")
        assert not any(detail in reply["text"] for detail in ORDER_DETAILS)
    assert reply["custom"]["kind"] == "handoff" and reply["custom"]["handoff"]["reason"] == "order_locked"
    # Locked for every sender now, the right e-mail included: no sixth guess.
    [reply] = await rest(client, "guesser-right", "Where is my order 12345? My e-mail is ana.lima@example.com")
    assert reply["custom"]["handoff"]["reason"] == "order_locked"
    assert not any(detail in reply["text"] for detail in ORDER_DETAILS)
    # The account's owner, vouched for by the integration, still sees her order.
    [own] = await rest(client, "ana-lima", "Where is my order 12345?", token=TOKEN)
    assert "UPS" in own["text"]


async def test_minting_sessions_is_limited_per_client(aiohttp_client, data_dir, sample_answerer):
    client = await aiohttp_client(create_app(Settings(data_dir=data_dir, session_issue_burst=5, session_issue_per_minute=1),
                                             answerer=sample_answerer))
    for _ in range(5):
        ws, _ = await open_ws(client)
        await ws.close()
    response = await client.get("/ws", headers={"Origin": ORIGIN, "Connection": "Upgrade", "Upgrade": "websocket",
                                               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 429


async def test_a_page_on_an_origin_not_allowed_cannot_open_the_widget(aiohttp_client, data_dir, sample_answerer):
    client = await aiohttp_client(create_app(Settings(data_dir=data_dir, widget_origins=(ORIGIN,)), answerer=sample_answerer))
    ws, _ = await open_ws(client)
    await ws.close()
    response = await client.get("/ws", headers={"Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
                                               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403


# ---------------------------------------------------------------- exactly once


async def test_a_retried_rest_message_is_answered_once_and_stored_once(client, settings):
    # Seen: a retried REST message was stored twice.
    [first] = await rest(client, "retrier", "How many days do I have to return an item?", message_id="m-1")
    [again] = await rest(client, "retrier", "How many days do I have to return an item?", message_id="m-1")
    assert again["text"] == first["text"] and again["custom"]["sources"] == first["custom"]["sources"]
    history = await (await client.get(f"/api/conversations/{first['custom']['conversation_id']}")).json()
    assert [t["role"] for t in history["turns"]] == ["customer", "bot"]


async def test_a_repeated_widget_message_is_answered_once_and_stored_once(client):
    ws, _ = await open_ws(client)
    first = await ws_say(ws, "Do you ship to Canada?", message_id="w-1")
    again = await ws_say(ws, "Do you ship to Canada?", message_id="w-1")
    assert again["text"] == first["text"]
    history = await (await client.get(f"/api/conversations/{first['conversation_id']}")).json()
    assert [t["role"] for t in history["turns"]] == ["customer", "bot"]
    await ws.close()


async def test_messages_a_crashed_run_accepted_are_marked_for_agents_and_answered_on_retry(
        aiohttp_client, settings, sample_answerer, sample_intents):
    # Seen: after kill -9, customer turns accepted but not answered were never answered or marked.
    store = SQLiteConversationStore(settings.database_path)
    await store.open()
    conversation = await store.conversation_for("rest", "anonymous:crashed")
    await store.append(conversation.conversation_id, "customer", "Do you ship to Canada?", {"channel": "rest"},
                       message_id="before-crash")
    await store.close()  # the run stops here, as kill -9 would, before the answer

    client = await aiohttp_client(create_app(settings, answerer=sample_answerer, intents=sample_intents))
    health = await (await client.get("/health")).json()
    assert health["unanswered_at_start"] == 1
    [waiting] = (await (await client.get("/api/unanswered")).json())["unanswered"]
    assert waiting["conversation_id"] == conversation.conversation_id and waiting["turn"]["text"] == "Do you ship to Canada?"

    # The client retries the same message: answered now, and not stored a second time.
    [reply] = await rest(client, "crashed", "Do you ship to Canada?", message_id="before-crash")
    assert reply["custom"]["kind"] == "answer"
    history = await (await client.get(f"/api/conversations/{conversation.conversation_id}")).json()
    assert [t["role"] for t in history["turns"]] == ["customer", "system", "bot"]
    assert (await (await client.get("/api/unanswered")).json())["unanswered"] == []


# ---------------------------------------------------------------- hardening


async def test_deeply_nested_json_is_a_400_on_rest_and_an_error_frame_on_the_widget(client):
    # Seen: JSON nested 30,000 deep gave a 500 on REST and broke the WebSocket.
    nested = "[" * 30_000 + "]" * 30_000
    response = await client.post("/webhooks/rest/webhook", data=nested, headers={"Content-Type": "application/json"})
    assert response.status == 400 and "nested" in (await response.json())["message"]
    ws, _ = await open_ws(client)
    await ws.send_str('{"type": "message", "text": "hi", "x": ' + nested + "}")
    frame = await ws.receive_json(timeout=10)
    assert frame["type"] == "error" and "nested" in frame["error"]
    assert (await ws_say(ws, "hi"))["type"] == "reply"  # the connection is still open
    await ws.close()


async def test_a_slow_body_is_cut_off_with_a_408(aiohttp_server, data_dir, sample_answerer):
    server = await aiohttp_server(create_app(Settings(data_dir=data_dir, request_read_timeout_seconds=0.5), answerer=sample_answerer))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"sender\":")
    await writer.drain()
    head = await asyncio.wait_for(reader.read(200), 10)
    assert head.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_slow_and_idle_connections_are_closed(aiohttp_server, data_dir, sample_answerer):
    # Seen: 20 slow connections were still open after 60 s.
    server = await aiohttp_server(create_app(Settings(data_dir=data_dir, keepalive_timeout_seconds=1.0), answerer=sample_answerer))
    connections = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(20)]
    for _, writer in connections:
        writer.write(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
        await writer.drain()
    started = asyncio.get_running_loop().time()
    for reader, writer in connections:
        assert await asyncio.wait_for(reader.read(100), 10) == b""  # closed by the server
        writer.close()
    assert asyncio.get_running_loop().time() - started < 5


async def test_an_oversized_header_is_refused_and_logs_no_credentials(aiohttp_server, data_dir, sample_answerer, caplog):
    # Seen: an oversized Authorization header produced thousands of ERROR lines containing "Bearer aaaa...".
    install_log_redaction()
    caplog.set_level(logging.INFO)
    server = await aiohttp_server(create_app(Settings(data_dir=data_dir), answerer=sample_answerer))
    install_log_redaction()  # on every root handler, caplog's included
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 20_000 + b"\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.read(200), 10)
    assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.1 431")
    writer.close()
    await asyncio.sleep(0.1)
    assert "aaaaaaaaaa" not in caplog.text and len(caplog.records) < 5


async def test_card_numbers_are_masked_before_they_are_stored(client):
    # Seen: card numbers typed by customers were stored in plain text.
    [reply] = await rest(client, "payer", "my card 4242 4242 4242 4242 was charged twice for order 12345")
    history = await (await client.get(f"/api/conversations/{reply['custom']['conversation_id']}")).json()
    stored = history["turns"][0]["text"]
    assert "4242 4242 4242 4242" not in stored and "•••• 4242" in stored and "12345" in stored
