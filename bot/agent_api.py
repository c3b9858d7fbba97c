"""The agent API (`/api/*`): transcripts, conversations waiting for a person, hand-back, and an
agent's message to the customer. Agents only: a bearer token, or this machine without one."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web

from bot.app_state import SETTINGS, STORE
from connectors.webhooks import CHANNEL_DISPATCHER
from core.errors import BadRequest, Unauthorized
from core.wire import decode_json_object


@web.middleware
async def agent_api_guard(request: web.Request, handler):
    """/api/* shows transcripts and changes who owns a conversation: agents only. With a token set,
    it needs `Authorization: Bearer <token>`; without one, only clients on this machine get in."""
    if request.path.startswith("/api/"):
        token = request.app[SETTINGS].agent_api_token
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Unauthorized("this endpoint needs the agent API token (Authorization: Bearer ...)")
        elif not _is_loopback(request.remote):
            raise Unauthorized("set BOT_AGENT_API_TOKEN to use /api/* from another machine")
    return await handler(request)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def conversation_history(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    store = request.app[STORE]
    conversation = await store.get(conversation_id)
    turns = await store.history(conversation_id)
    return web.json_response({**conversation.to_wire(), "slots": conversation.slots.to_dict(), "turns": [t.to_wire() for t in turns]})


async def list_handoffs(request: web.Request) -> web.Response:
    """Conversations waiting for a person, oldest first, each with its last few turns."""
    store = request.app[STORE]
    waiting = await store.handoffs()
    items = []
    for conversation in waiting:
        turns = await store.history(conversation.conversation_id, limit=5)
        items.append({**conversation.to_wire(), "recent_turns": [t.to_wire() for t in turns]})
    return web.json_response({"handoffs": items})


async def hand_back(request: web.Request) -> web.Response:
    """An agent returns the conversation to the bot; the bot answers the customer's next message."""
    conversation_id = request.match_info["conversation_id"]
    store = request.app[STORE]
    conversation = await store.get(conversation_id)
    if conversation.owner != "human":
        raise BadRequest(f"conversation {conversation_id} is not with a person", conversation_id=conversation_id)
    await store.set_slots(conversation_id, conversation.slots.after_handback())
    conversation = await store.set_owner(conversation_id, "bot")
    await store.append(conversation_id, "system", "handed back to the bot", {"event": "handback"})
    return web.json_response(conversation.to_wire())


async def agent_message(request: web.Request) -> web.Response:
    """An agent writes to the customer: stored in the conversation and, on a chat channel, sent there
    (kept and retried like the bot's replies when the platform is down)."""
    conversation_id = request.match_info["conversation_id"]
    body = decode_json_object(await request.read(), request.content_type)
    text, agent = body.get("text"), body.get("agent", "agent")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest('"text" must be a non-empty string')
    text = text.strip()
    if not isinstance(agent, str) or len(agent) > 128:
        raise BadRequest('"agent" must be a string of at most 128 characters')
    store = request.app[STORE]
    conversation = await store.get(conversation_id)
    dispatcher = request.app.get(CHANNEL_DISPATCHER)
    if dispatcher is None or not dispatcher.serves(conversation.channel):
        # The REST and widget channels have no way to push a message to the customer yet.
        raise BadRequest(f"agent messages cannot be delivered on the {conversation.channel} channel",
                         channel=conversation.channel)
    turn = await store.append(conversation_id, "agent", text, {"agent": agent})
    delivery_id = await dispatcher.send_from_agent(conversation.channel, conversation.sender, text)
    return web.json_response({"turn": turn.to_wire(), "delivery_id": delivery_id}, status=202)


async def list_unanswered(request: web.Request) -> web.Response:
    """Customer messages a stopped run accepted but never answered, not yet answered since."""
    items = [{**conversation.to_wire(), "turn": turn.to_wire()} for conversation, turn in await request.app[STORE].unanswered()]
    return web.json_response({"unanswered": items})


async def list_deliveries(request: web.Request) -> web.Response:
    """Channel deliveries by status: `?status=dead` (default) lists the dead letters."""
    dispatcher = request.app.get(CHANNEL_DISPATCHER)
    status = request.query.get("status", "dead")
    if status != "dead":
        raise BadRequest('only status "dead" is listed', status=status)
    letters = await dispatcher.deliveries.dead() if dispatcher is not None else []
    return web.json_response({"deliveries": [{"delivery_id": d.delivery_id, "channel": d.channel, "sender": d.sender,
                                              "reply": d.reply, "attempts": d.attempts, "last_error": d.last_error}
                                             for d in letters]})


def agent_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/unanswered", list_unanswered),
        web.get("/api/deliveries", list_deliveries),
        web.get("/api/conversations/{conversation_id}", conversation_history),
        web.get("/api/handoffs", list_handoffs),
        web.post("/api/conversations/{conversation_id}/handback", hand_back),
        web.post("/api/conversations/{conversation_id}/messages", agent_message),
    ]
