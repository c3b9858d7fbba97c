"""The web widget's channel (`GET /ws`): JSON frames {"type": "message", "text", "message_id"?} in;
hello, token, reply, waiting and error frames out.

Who is talking is a session the server issues, never a name the page sends: the "hello" frame
carries a signed token (connectors.sessions), bound to the page's origin, that the widget keeps and
presents when it reconnects (`/ws?session=<token>`); a missing, expired or forged token gets a new
session, never someone else's. A conversation is created by the first message, not by connecting.

A generated reply streams: "token" frames carry its checked text as it is written, then the "reply"
frame carries the whole reply, whose `text` is what to show in the end (it differs from the deltas
when a late check replaced the draft with the extractive reply)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

from connectors.http import Network, client_address
from connectors.rest import message_id_of
from connectors.sessions import SessionSigner
from core.errors import BadRequest, BotError, Forbidden, TooManyRequests, Unauthorized
from core.limits import RateLimiter
from core.ports import DeltaSink, Handle
from core.types import Exchange, Message
from core.wire import decode_json_text

log = logging.getLogger(__name__)

CHANNEL = "web"
HEARTBEAT_SECONDS = 30

# The id of a sender's existing conversation on this channel, or None (nothing is created).
FindConversation = Callable[[str, str], Awaitable[str | None]]


def to_message(frame_text: str, session_id: str, client: str | None = None) -> Message:
    data = decode_json_text(frame_text, "frame")
    if not isinstance(data, dict) or data.get("type") != "message":
        raise BadRequest('expected {"type": "message", "text": "..."}')
    return Message(channel=CHANNEL, sender=session_id, text=data.get("text"), message_id=message_id_of(data.get("message_id")),
                   trust="session", client=client)


def to_frame(exchange: Exchange) -> dict:
    reply = exchange.reply
    conversation_id = exchange.conversation.conversation_id
    if reply.kind == "silent":
        return {"type": "waiting", "conversation_id": conversation_id, "owner": "human"}
    return {"type": "reply", "conversation_id": conversation_id, "text": reply.text, **reply.custom()}


def websocket_routes(handle: Handle, find_conversation: FindConversation, signer: SessionSigner, *, max_frame_bytes: int,
                     allowed_origins: tuple[str, ...] = (), trusted_proxies: tuple[Network, ...] = (),
                     issue_limiter: RateLimiter | None = None) -> list[web.RouteDef]:
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin", "")
        if allowed_origins and origin not in allowed_origins:
            raise Forbidden(f"the widget is not served to pages on {origin or 'no origin'}")
        client = client_address(request, trusted_proxies)
        try:
            session = signer.verify(request.query.get("session", ""), origin)
            session, token = signer.issue(origin, session.session_id)  # renewed: a returning customer keeps it
            replaced = False
        except Unauthorized:
            if issue_limiter is not None:
                issue_limiter.check(client)  # 429 before the upgrade: sessions are not free to mint
            session, token = signer.issue(origin)
            replaced = "session" in request.query  # it presented one we could not accept
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=max_frame_bytes)
        await ws.prepare(request)
        await ws.send_json({
            "type": "hello", "session": token, "conversation_id": await find_conversation(CHANNEL, session.session_id),
            "expires_at": datetime.fromtimestamp(session.expires_at, timezone.utc).isoformat(),
            **({"new_session": True} if replaced else {}),
        })
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                try:
                    exchange = await handle(to_message(frame.data, session.session_id, client), on_delta=_delta_sender(ws))
                except TooManyRequests as exc:
                    await ws.send_json({"type": "error", "error": exc.message, "retry_after": round(exc.retry_after)})
                    continue
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
