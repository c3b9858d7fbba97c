"""The web widget's channel (`GET /ws`): JSON frames {"type": "message", "text"} in; hello, token,
reply, waiting and error frames out.

A generated reply streams: "token" frames carry its checked text as it is written, then the "reply"
frame carries the whole reply, whose `text` is what to show in the end (it differs from the deltas
when a late check replaced the draft with the extractive reply)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

from core.errors import BadRequest, BotError
from core.ports import DeltaSink, Handle
from core.types import Exchange, Message

log = logging.getLogger(__name__)

CHANNEL = "web"
MAX_SENDER_CHARS = 128
HEARTBEAT_SECONDS = 30

# The conversation id of a sender on this channel (sent in the "hello" frame).
OpenConversation = Callable[[str, str], Awaitable[str]]


def to_message(frame_text: str, sender: str) -> Message:
    try:
        data = json.loads(frame_text)
    except json.JSONDecodeError:
        raise BadRequest("frame is not valid JSON") from None
    if not isinstance(data, dict) or data.get("type") != "message":
        raise BadRequest('expected {"type": "message", "text": "..."}')
    return Message(channel=CHANNEL, sender=sender, text=data.get("text"))


def to_frame(exchange: Exchange) -> dict:
    reply = exchange.reply
    conversation_id = exchange.conversation.conversation_id
    if reply.kind == "silent":
        return {"type": "waiting", "conversation_id": conversation_id, "owner": "human"}
    return {"type": "reply", "conversation_id": conversation_id, "text": reply.text, **reply.custom()}


def websocket_routes(handle: Handle, open_conversation: OpenConversation, max_frame_bytes: int) -> list[web.RouteDef]:
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=max_frame_bytes)
        await ws.prepare(request)
        sender = request.query.get("sender", "").strip()[:MAX_SENDER_CHARS] or uuid.uuid4().hex
        conversation_id = await open_conversation(CHANNEL, sender)
        await ws.send_json({"type": "hello", "conversation_id": conversation_id})
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                try:
                    exchange = await handle(to_message(frame.data, sender), on_delta=_delta_sender(ws))
                except BotError as exc:
                    await ws.send_json({"type": "error", "error": exc.message})
                    continue
                await ws.send_json(to_frame(exchange))
            elif frame.type == WSMsgType.BINARY:
                await ws.send_json({"type": "error", "error": "binary frames are not supported; send JSON text"})
            elif frame.type == WSMsgType.ERROR:
                log.info("websocket closed with error: %s", ws.exception())
        return ws

    return [web.get("/ws", websocket)]


def _delta_sender(ws: web.WebSocketResponse) -> DeltaSink:
    async def send(text: str) -> None:
        # A customer who closed the widget mid-reply costs nothing: the reply is still written and stored.
        if ws.closed:
            return
        try:
            await ws.send_json({"type": "token", "text": text})
        except (ConnectionResetError, RuntimeError):
            log.info("websocket closed while a reply streamed")

    return send
