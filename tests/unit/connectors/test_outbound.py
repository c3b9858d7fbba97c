"""The shared platform client: what it retries, what it does not, and how long it waits."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from connectors.outbound import DeliveryFailed, PlatformClient


class Script:
    """A tiny API that answers each call with the next scripted (status, body, headers, delay)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        status, body, headers, delay = self.answers.pop(0) if self.answers else (200, {"ok": True}, {}, 0)
        await request.read()
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status, headers=headers)


@pytest.fixture
async def api(aiohttp_server):
    async def make(*answers):
        script = Script(*answers)
        app = web.Application()
        app.router.add_post("/send", script.handle)
        server = await aiohttp_server(app)
        return script, str(server.make_url("/send"))

    return make


@pytest.fixture
async def client():
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    c = PlatformClient(timeout=0.3, attempts=3, backoff=0.5, max_backoff=8.0, sleep=no_sleep)
    c.waits = waits
    await c.open()
    yield c
    await c.close()


async def test_success_returns_the_platforms_json(api, client):
    script, url = await api((200, {"ok": True, "result": {"message_id": 7}}, {}, 0))
    assert await client.post_json("test", url, {"text": "hi"}) == {"ok": True, "result": {"message_id": 7}}
    assert script.calls == 1 and client.waits == []


async def test_5xx_and_429_are_retried_with_growing_waits(api, client):
    script, url = await api((503, {"error": "down"}, {}, 0), (429, {"ok": False}, {"Retry-After": "2"}, 0), (200, {"ok": True}, {}, 0))
    assert await client.post_json("test", url, {}) == {"ok": True}
    assert script.calls == 3
    assert 0.5 <= client.waits[0] < 0.6 and client.waits[1] == 2.0  # backoff, then the platform's Retry-After


async def test_telegram_retry_after_in_the_body_is_honoured(api, client):
    body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}}
    script, url = await api((429, body, {}, 0))
    assert await client.post_json("test", url, {}) == {"ok": True}
    assert client.waits == [3.0]


async def test_a_long_retry_after_is_left_to_the_caller(api, client):
    script, url = await api((429, {"ok": False}, {"Retry-After": "120"}, 0))
    with pytest.raises(DeliveryFailed) as failed:
        await client.post_json("test", url, {})
    assert failed.value.retryable and failed.value.retry_after == 120 and script.calls == 1 and client.waits == []


async def test_other_4xx_are_not_retried(api, client):
    script, url = await api((403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}, {}, 0))
    with pytest.raises(DeliveryFailed, match="bot was blocked") as failed:
        await client.post_json("telegram sendMessage", url, {})
    assert not failed.value.retryable and failed.value.status == 403 and script.calls == 1


async def test_timeouts_and_refused_connections_are_retryable_and_named(api, client):
    script, url = await api(*[(200, {"ok": True}, {}, 1.0)] * 3)
    with pytest.raises(DeliveryFailed, match="no answer within 0.3 s") as failed:
        await client.post_json("slow api", url, {})
    assert failed.value.retryable and script.calls == 3
    with pytest.raises(DeliveryFailed, match="ClientConnectorError") as refused:
        await client.post_json("closed port", "http://127.0.0.1:9/send", {})
    assert refused.value.retryable


async def test_errors_never_show_the_url():
    client = PlatformClient(attempts=1)
    await client.open()
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await client.post_json("telegram sendMessage", "http://127.0.0.1:9/botSECRET-TOKEN/sendMessage", {})
        assert "SECRET-TOKEN" not in str(failed.value)
    finally:
        await client.close()
