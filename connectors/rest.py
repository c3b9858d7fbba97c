"""Rasa's REST channel (`POST /webhooks/rest/webhook`): {"sender", "message", "message_id"?} in, a
list of bot messages out. A translation and nothing more: the dialogue answers, this shapes the wire.

Who the sender is depends on the caller: an integration that presents the channel's secret
(`Authorization: Bearer <token>`, or `?token=` as Rasa's REST channel takes it) vouches for its
senders, so a sender linked to a customer account is that customer. Anyone else is an anonymous
stranger: the name they send only keeps their messages together (in conversations apart from the
integration's), and every order must be proved with its e-mail address.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from connectors.http import Network, client_address
from core.errors import BadRequest, Unauthorized
from core.ports import Handle
from core.types import Exchange, Message
from core.wire import decode_json_object

CHANNEL = "rest"
MAX_SENDER_CHARS = 256
MAX_MESSAGE_ID_CHARS = 128
ANONYMOUS_PREFIX = "anonymous:"


def message_id_of(value: object) -> str | None:
    """A client's message id: absent, or a non-empty string of at most 128 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MESSAGE_ID_CHARS:
        raise BadRequest(f'"message_id" must be a non-empty string of at most {MAX_MESSAGE_ID_CHARS} characters')
    return value.strip()


def to_message(body: dict, *, authenticated: bool, client: str | None = None) -> Message:
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest('"sender" must be a non-empty string')
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f'"sender" is longer than {MAX_SENDER_CHARS} characters')
    if not isinstance(text, str):
        raise BadRequest('"message" must be a string')
    return Message(channel=CHANNEL, sender=sender if authenticated else ANONYMOUS_PREFIX + sender, text=text,
                   message_id=message_id_of(body.get("message_id")), trust="verified" if authenticated else "anonymous",
                   client=client)


def to_wire(exchange: Exchange, recipient: str) -> list[dict]:
    reply = exchange.reply
    if reply.kind == "silent":
        return []  # a person has the conversation; Rasa's way of saying nothing
    return [{"recipient_id": recipient, "text": reply.text,
             "custom": {**reply.custom(), "conversation_id": exchange.conversation.conversation_id}}]


def authenticated(request: web.BaseRequest, token: str) -> bool:
    """True with the integration's secret; False without credentials; Unauthorized with wrong ones
    (a misconfigured integration should hear so, not be quietly demoted to anonymous)."""
    header = request.headers.get("Authorization")
    given = header if header is not None else (f"Bearer {request.query['token']}" if "token" in request.query else None)
    if given is None:
        return False
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("the REST channel's token is wrong" if token else "this server has no REST token; send no credentials")
    return True


def rest_routes(handle: Handle, *, token: str = "", trusted_proxies: tuple[Network, ...] = ()) -> list[web.RouteDef]:
    async def webhook(request: web.Request) -> web.Response:
        verified = authenticated(request, token)
        body = decode_json_object(await request.read(), request.content_type)
        message = to_message(body, authenticated=verified, client=client_address(request, trusted_proxies))
        exchange = await handle(message)
        return web.json_response(to_wire(exchange, body["sender"]))

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    return [web.post("/webhooks/rest/webhook", webhook), web.get("/webhooks/rest/", status)]
