"""Rasa's REST channel (`POST /webhooks/rest/webhook`): {"sender", "message"} in, a list of bot
messages out. A translation and nothing more: the dialogue answers, this shapes the wire."""

from __future__ import annotations

from aiohttp import web

from core.errors import BadRequest
from core.ports import Handle
from core.types import Exchange, Message
from core.wire import decode_json_object

CHANNEL = "rest"
MAX_SENDER_CHARS = 256


def to_message(body: dict) -> Message:
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest('"sender" must be a non-empty string')
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f'"sender" is longer than {MAX_SENDER_CHARS} characters')
    if not isinstance(text, str):
        raise BadRequest('"message" must be a string')
    return Message(channel=CHANNEL, sender=sender, text=text)


def to_wire(exchange: Exchange, sender: str) -> list[dict]:
    reply = exchange.reply
    if reply.kind == "silent":
        return []  # a person has the conversation; Rasa's way of saying nothing
    return [{"recipient_id": sender, "text": reply.text,
             "custom": {**reply.custom(), "conversation_id": exchange.conversation.conversation_id}}]


def rest_routes(handle: Handle) -> list[web.RouteDef]:
    async def webhook(request: web.Request) -> web.Response:
        message = to_message(decode_json_object(await request.read(), request.content_type))
        exchange = await handle(message)
        return web.json_response(to_wire(exchange, message.sender))

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    return [web.post("/webhooks/rest/webhook", webhook), web.get("/webhooks/rest/", status)]
