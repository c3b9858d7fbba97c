"""The HTTP side of every channel: one POST route (verify, decode, translate, record, acknowledge)
and, for platforms that have one, the GET set-up handshake."""

from __future__ import annotations

import logging

from aiohttp import web

from connectors.base import Connector, SubscriptionHandshake
from connectors.dispatch import ChannelDispatcher
from core.wire import decode_json_object

log = logging.getLogger(__name__)

CHANNEL_DISPATCHER = web.AppKey("channel_dispatcher", ChannelDispatcher)


def webhook_routes(connector: Connector) -> list[web.RouteDef]:
    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()  # over the body limit: 413 before anything else
        connector.verify(request.headers, raw)  # 401/403 before any parsing
        payload = decode_json_object(raw, request.content_type, accepted=("application/json",))
        result = connector.parse(payload)
        if result.challenge is not None:
            return web.Response(text=result.challenge, content_type="text/plain")
        dispatcher = request.app[CHANNEL_DISPATCHER]
        accepted = [await dispatcher.accept(message) for message in result.messages]
        if result.ignored:
            log.debug("%s webhook: ignored %s", connector.name, "; ".join(result.ignored))
        return web.json_response(
            {"ok": True, "accepted": sum(accepted), "duplicates": len(accepted) - sum(accepted), "ignored": len(result.ignored)}
        )

    routes = [web.post(connector.path, receive)]
    if isinstance(connector, SubscriptionHandshake):

        async def subscribe(request: web.Request) -> web.Response:
            return web.Response(text=connector.verify_subscription(request.query), content_type="text/plain")

        routes.append(web.get(connector.path, subscribe))
    return routes
