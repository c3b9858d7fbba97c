"""The aiohttp dialogue server: the app factory, its resources, and the one place errors become
HTTP statuses. Channels are connectors (REST, the widget's WebSocket, chat platforms); the agent
API is bot.agent_api; what is built from settings comes from the composition root, bot.assembly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import AsyncIterator, Sequence

from aiohttp import web

import bot
from answering.phrasing import ReplyWriter
from bot.agent_api import agent_api_guard, agent_routes
from bot.app_state import BACKEND, DIALOGUE, HEALTH, OPEN_DIALOGUE, SETTINGS, STORE
from bot.assembly import BatchAnswerer, BatchIntentClassifier, open_dialogue
from bot.backend import SQLiteStoreBackend, StoreBackend
from bot.conversations import SQLiteConversationStore
from connectors.base import Connector
from connectors.deliveries import DeliveryLog
from connectors.dispatch import ChannelDispatcher
from connectors.http import parse_networks
from connectors.outbound import PlatformClient
from connectors.registry import enabled_connectors
from connectors.rest import rest_routes
from connectors.sessions import SessionSigner, load_or_create_secret
from connectors.webhooks import CHANNEL_DISPATCHER, webhook_routes
from connectors.websocket import websocket_routes
from core.budget import Deadline
from core.errors import BotError, RequestTimeout, TooManyRequests
from core.limits import RateLimiter
from core.ports import ConversationStore, DeltaSink
from core.settings import Settings
from core.types import Exchange, Message
from knowledge_base.recommend import ProductRecommender

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    store: ConversationStore | None = None,
    answerer: BatchAnswerer | None = None,
    intents: BatchIntentClassifier | None = None,
    backend: StoreBackend | None = None,
    writer: ReplyWriter | None = None,
    recommender: ProductRecommender | None = None,
) -> web.Application:
    """Build the app. `store`, `answerer`, `intents` and `backend` replace the SQLite stores and the
    model pipeline built from settings (tests pass a fake, or one real pipeline shared by many apps).
    With `answerer` given, only what is also given is used: no `intents`, everything goes to the
    knowledge base; no `writer`, replies stay extractive; no `recommender`, no product suggestions."""
    # Idle keep-alive connections and half-sent request heads are closed after keepalive_timeout: a
    # client that opens connections and dribbles bytes (slowloris) holds nothing for long.
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware, agent_api_guard, body_deadline],
                          handler_args={"keepalive_timeout": settings.keepalive_timeout_seconds})
    app[SETTINGS] = settings
    app[HEALTH] = {"status": "starting"}
    app.cleanup_ctx.append(_conversation_store(store))
    app.cleanup_ctx.append(_store_backend(backend))
    app.cleanup_ctx.append(_dialogue(answerer, intents, writer, recommender))
    channels = enabled_connectors(settings)  # half-configured channels fail here, at start-up
    app[HEALTH]["channels"] = ["rest", "web", *(c.name for c in channels)]
    if channels:
        app.cleanup_ctx.append(_channel_dispatch(channels))
        for connector in channels:
            app.router.add_routes(webhook_routes(connector))

    # The dialogue exists once the app has started: channels look it up per message.
    async def handle(message: Message, on_delta: DeltaSink | None = None, deadline: Deadline | None = None) -> Exchange:
        return await app[DIALOGUE].handle(message, on_delta=on_delta, deadline=deadline)

    async def find_conversation(channel: str, sender: str) -> str | None:
        found = await app[STORE].find_conversation(channel, sender)
        return found.conversation_id if found is not None else None

    proxies = parse_networks(settings.trusted_proxies)
    signer = SessionSigner(load_or_create_secret(settings.session_secret, settings.data_dir / "session-secret"),
                           ttl_seconds=settings.session_ttl_hours * 3600)
    app.router.add_routes(rest_routes(handle, token=settings.rest_auth_token, trusted_proxies=proxies))
    app.router.add_routes(websocket_routes(
        handle, find_conversation, signer, max_frame_bytes=settings.max_body_bytes, allowed_origins=settings.widget_origins,
        trusted_proxies=proxies, issue_limiter=RateLimiter(settings.session_issue_per_minute, settings.session_issue_burst,
                                                           what="new sessions from your network address")))
    app.router.add_get("/health", health)
    app.router.add_routes(agent_routes())
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app


def _conversation_store(store: ConversationStore | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = store or SQLiteConversationStore(app[SETTINGS].database_path)
        await app[STORE].open()
        # Messages a stopped run accepted but never answered are marked for agents, never dropped
        # (platform channels replay theirs from the delivery log instead).
        marked = await app[STORE].mark_unanswered(("rest", "web"))
        if marked:
            log.warning("%d customer message(s) were left unanswered by the last run; marked for agents (/api/unanswered)",
                        len(marked))
        app[HEALTH]["unanswered_at_start"] = len(marked)
        yield
        await app[STORE].close()

    return ctx


def _store_backend(backend: StoreBackend | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[BACKEND] = backend or SQLiteStoreBackend(app[SETTINGS].store_database_path)
        await app[BACKEND].open()
        yield
        await app[BACKEND].close()

    return ctx


def _dialogue(answerer: BatchAnswerer | None, intents: BatchIntentClassifier | None,
              writer: ReplyWriter | None, recommender: ProductRecommender | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        opened = await open_dialogue(app[SETTINGS], app[STORE], app[BACKEND], answerer=answerer, intents=intents,
                                     writer=writer, recommender=recommender)
        app[HEALTH].update(opened.health)
        app[OPEN_DIALOGUE] = opened
        app[DIALOGUE] = opened.dialogue
        app[HEALTH]["status"] = "ok"
        yield
        await opened.close()

    return ctx


def _channel_dispatch(channels: Sequence[Connector]):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        deliveries = DeliveryLog(settings.database_path)
        client = PlatformClient(timeout=settings.channel_send_timeout_seconds, attempts=settings.channel_send_attempts)
        await deliveries.open()
        await client.open()
        dispatcher = ChannelDispatcher(
            app[DIALOGUE].handle, deliveries, client, channels,
            retry_seconds=settings.channel_retry_seconds, max_attempts=settings.channel_delivery_max_attempts,
            replay_limit=settings.channel_replay_limit, replay_max_age_hours=settings.channel_replay_max_age_hours,
            reply_window_hours=settings.channel_reply_window_hours, dead_letter_probe_seconds=settings.dead_letter_probe_seconds,
        )
        app[CHANNEL_DISPATCHER] = dispatcher
        await dispatcher.start()
        yield
        await dispatcher.stop()
        await client.close()
        await deliveries.close()

    return ctx


# ---------------------------------------------------------------- errors, in one place


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except TooManyRequests as exc:
        return web.json_response(exc.to_wire(), status=exc.http_status, headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    except BotError as exc:
        return web.json_response(exc.to_wire(), status=exc.http_status)
    except web.HTTPRequestEntityTooLarge as exc:
        return web.json_response(
            {"error": "message_too_large", "message": f"request body over the {request.app[SETTINGS].max_body_bytes} byte limit"},
            status=exc.status,
        )
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason}, status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error", "message": "internal error"}, status=500)


@web.middleware
async def body_deadline(request: web.Request, handler):
    """Every route's body arrives within `request_read_timeout_seconds` or the request is a 408: a
    slow sender holds a connection and a worker for nothing. The body is read (and kept by aiohttp
    for the handler) here, once, for REST, the platform webhooks and the agent API alike."""
    if request.can_read_body:
        timeout = request.app[SETTINGS].request_read_timeout_seconds
        try:
            await asyncio.wait_for(request.read(), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"request body not received within {timeout:g} s") from None
    return await handler(request)


# ---------------------------------------------------------------- health and the widget page


async def health(request: web.Request) -> web.Response:
    """"ok" (200) while the answer pipeline moves; "degraded" (503) when a stage has had work
    waiting for `watchdog_stall_seconds` without finishing any: a load balancer takes the worker out."""
    info = dict(request.app[HEALTH])
    opened = request.app.get(OPEN_DIALOGUE)
    if info.get("generator", {}).get("available") and opened is not None and opened.checks is not None:
        # How often a generated reply failed its check and the template was sent instead, by kind.
        info["generator"] = {**info["generator"], "checks": opened.checks.snapshot()}
    status = 200
    stages = opened.stages if opened is not None else ()
    if stages:
        limit = request.app[SETTINGS].watchdog_stall_seconds
        stalled = {p.name: round(p.stalled_for(), 1) for p in stages if p.stalled_for() > limit}
        info["pipeline"] = {p.name: {"pending": p.pending, "stalled_seconds": round(p.stalled_for(), 1)} for p in stages}
        if stalled and info.get("status") == "ok":
            info["status"] = "degraded"
            info["degraded"] = f"no progress for over {limit:g} s in: {', '.join(sorted(stalled))}"
            status = 503
    dispatcher = request.app.get(CHANNEL_DISPATCHER)
    if dispatcher is not None:
        # Replies that exhausted their retries, waiting for their platform to answer again.
        info["dead_letters"] = await dispatcher.deliveries.count("dead")
    if opened is not None:
        # How often each stage was skipped under load or budget, and why (phrasing first, never the answer).
        info["skipped"] = opened.skips.snapshot()
    return web.json_response({**info, "version": bot.__version__}, status=status)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def serve(settings: Settings) -> None:
    # SIGTERM: stop accepting, give requests in flight `shutdown_drain_seconds`, then close (cleanup
    # cancels generations at their next token, so no worker thread keeps the process alive).
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None,
                shutdown_timeout=settings.shutdown_drain_seconds, keepalive_timeout=settings.keepalive_timeout_seconds,
                print=lambda *_: log.info("serving on http://%s:%d", settings.host, settings.port))
