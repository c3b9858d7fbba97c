"""The aiohttp dialogue server: app factory, routes, and the one place errors become HTTP statuses."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import uuid
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator, Protocol, Sequence

from aiohttp import WSMsgType, web

import bot
from bot.backend import SQLiteStoreBackend, StoreBackend
from bot.batching import MicroBatcher
from bot.budget import Progress, SkipCounters
from bot.conversations import ConversationStore, SQLiteConversationStore
from bot.dialogue import DialoguePolicy, DialogueService, Understanding
from bot.errors import BadRequest, BotError, TooManyRequests, Unauthorized
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.types import Message, Reply
from bot.wire import decode_json_object
from bot.writing import DialogueWriter, Shopping
from connectors.base import Connector
from connectors.deliveries import DeliveryLog
from connectors.dispatch import ChannelDispatcher
from connectors.outbound import PlatformClient
from connectors.registry import enabled_connectors
from connectors.webhooks import CHANNEL_DISPATCHER, webhook_routes

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("conversation_store", object)
BACKEND = web.AppKey("store_backend", object)
DIALOGUE = web.AppKey("dialogue", DialogueService)
HEALTH = web.AppKey("health", dict)
SKIPS = web.AppKey("skips", SkipCounters)
STAGES = web.AppKey("stages", tuple)


class BatchAnswerer(Protocol):
    def answer_many(self, questions: Sequence[str]) -> list[Reply]: ...


class BatchIntentClassifier(Protocol):
    def run(self, texts: Sequence[str]) -> list: ...  # list[models.intents.IntentPrediction]


def create_app(
    settings: Settings,
    *,
    store: ConversationStore | None = None,
    answerer: BatchAnswerer | None = None,
    intents: BatchIntentClassifier | None = None,
    backend: StoreBackend | None = None,
    writer=None,
    recommender=None,
) -> web.Application:
    """Build the app. `store`, `answerer`, `intents` and `backend` replace the SQLite stores and the
    model pipeline built from settings (tests pass a fake, or one real pipeline shared by many apps).
    With `answerer` given, only what is also given is used: no `intents`, everything goes to the
    knowledge base; no `writer` (a models.phrasing.ReplyWriter), replies stay extractive; no
    `recommender` (a bot.recommend.ProductRecommender), no product suggestions."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware, agent_api_guard])
    app[SETTINGS] = settings
    app[HEALTH] = {"status": "starting"}
    app.cleanup_ctx.append(_conversation_store(store))
    app.cleanup_ctx.append(_store_backend(backend))
    app.cleanup_ctx.append(_answer_pipeline(answerer, intents, writer, recommender))
    channels = enabled_connectors(settings)  # half-configured channels fail here, at start-up
    app[HEALTH]["channels"] = ["rest", "web", *(c.name for c in channels)]
    if channels:
        app.cleanup_ctx.append(_channel_dispatch(channels))
        for connector in channels:
            app.router.add_routes(webhook_routes(connector))
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_get("/webhooks/rest/", rest_status)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/health", health)
    app.router.add_get("/api/conversations/{conversation_id}", conversation_history)
    app.router.add_get("/api/handoffs", list_handoffs)
    app.router.add_post("/api/conversations/{conversation_id}/handback", hand_back)
    app.router.add_post("/api/conversations/{conversation_id}/messages", agent_message)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app


def _conversation_store(store: ConversationStore | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = store or SQLiteConversationStore(app[SETTINGS].database_path)
        await app[STORE].open()
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


def _answer_pipeline(answerer: BatchAnswerer | None, intents: BatchIntentClassifier | None, writer=None, recommender=None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        executor = ThreadPoolExecutor(max_workers=settings.inference_workers, thread_name_prefix="inference")
        # Generation holds a thread for seconds: its own single worker, so it queues behind other
        # generations instead of blocking retrieval and intents.
        generation = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
        pipeline, classifier, reply_writer, products = answerer, intents, writer, recommender
        loop = asyncio.get_running_loop()
        if pipeline is None:
            # Loading models takes seconds: done off the loop, before the server accepts requests.
            pipeline, classifier, info = await loop.run_in_executor(executor, build_pipeline, settings)
            app[HEALTH].update(info)
            products = await loop.run_in_executor(executor, build_recommender, pipeline)
            if settings.generator_enabled:
                reply_writer = await loop.run_in_executor(generation, build_writer, settings, products)
        elif reply_writer is not None:
            await loop.run_in_executor(generation, reply_writer.warm_up)
        app[HEALTH]["generator"] = generator_health(settings, reply_writer)
        skips = SkipCounters()
        app[SKIPS] = skips
        generation_progress = Progress("generator")
        batcher = MicroBatcher(pipeline.answer_many, executor, max_batch=16, progress=Progress("answers"))
        await batcher.start()
        dialogue_writer = DialogueWriter(
            reply_writer, generation, languages=_languages(settings.generator_languages),
            phrase_answers=settings.phrase_answers, max_waiting=settings.generation_max_waiting,
            skips=skips, progress=generation_progress,
            under_load=lambda: batcher.backlog >= settings.shed_generation_backlog > 0,
        ) if reply_writer is not None else None
        shopping = Shopping(products, executor, dialogue_writer) if products is not None else None
        stages = [batcher.progress, generation_progress]
        intent_batcher = None
        understand = None
        if classifier is not None:
            intent_batcher = MicroBatcher(classifier.run, executor, max_batch=32, progress=Progress("intents"))
            stages.append(intent_batcher.progress)
            await intent_batcher.start()

            async def understand(text: str) -> Understanding:
                prediction = await intent_batcher.submit(text)
                return Understanding(prediction.intent, prediction.confidence)

        policy = DialoguePolicy(
            intent_threshold=settings.intent_threshold,
            handoff_after_failures=settings.handoff_after_failures,
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            support_hours=settings.support_hours,
        )
        app[DIALOGUE] = DialogueService(
            app[STORE],
            batcher.submit,
            understand=understand,
            backend=app[BACKEND],
            policy=policy,
            limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
            max_message_chars=settings.max_message_chars,
            writer=dialogue_writer,
            shopping=shopping,
            budgets=settings.reply_budgets(),
        )
        app[STAGES] = tuple(stages)
        release_freed_memory()
        app[HEALTH]["status"] = "ok"
        yield
        if dialogue_writer is not None:
            dialogue_writer.cancel_all()  # generations in flight stop at their next token
        await batcher.stop()
        if intent_batcher is not None:
            await intent_batcher.stop()
        executor.shutdown(wait=False, cancel_futures=True)
        generation.shutdown(wait=False, cancel_futures=True)

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
        )
        app[CHANNEL_DISPATCHER] = dispatcher
        await dispatcher.start()
        yield
        await dispatcher.stop()
        await client.close()
        await deliveries.close()

    return ctx


def build_pipeline(settings: Settings):
    """The answerer and the intent classifier, sharing one embedder."""
    from models.intents import IntentClassifier

    answerer, info = build_answerer(settings)
    classifier = IntentClassifier(answerer.embedder, settings.intent_model or None)
    classifier.warm_up()  # a missing or corrupt model fails here, naming its path, not on a customer's message
    classifier.run(["warm-up"])
    info["intents"] = len(classifier.model.classes)
    return answerer, classifier, info


def build_recommender(answerer):
    """Product suggestions over the catalog passages of the answerer's index (None without any)."""
    from bot.recommend import ProductRecommender

    retriever = getattr(answerer, "retriever", None)
    if retriever is None:
        return None
    recommender = ProductRecommender(retriever)
    recommender.warm_up()
    if not recommender.catalog():
        log.info("no catalog in the index: product suggestions are off")
        return None
    return recommender


def build_writer(settings: Settings, recommender=None):
    """The generator and its checked writer. A generator that fails to load (ReplyWriter.warm_up)
    leaves the writer on templates, so replies stay extractive; /health says why."""
    from models.phrasing import reply_writer_from_settings

    catalog = tuple(recommender.catalog().values()) if recommender is not None else ()
    writer = reply_writer_from_settings(settings, catalog)
    writer.warm_up()
    if not writer.unavailable:
        # The first generation allocates: pay it before the first customer (not counted as a check).
        writer.generator.generate([{"role": "user", "content": "Hello"}], max_new_tokens=2)
    return writer


def release_freed_memory() -> None:
    """Hand the heap pages freed while models loaded back to the system. Loading dequantises the
    GGUF generator and copies every checkpoint through temporary buffers; glibc keeps those pages
    (hundreds of MB of RSS) unless asked. A no-op where the C library has no malloc_trim."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def generator_health(settings: Settings, writer) -> dict:
    if writer is None:
        return {"enabled": False}
    generator = writer.generator
    info = {"enabled": True, "available": generator is not None and not writer.unavailable}
    if writer.unavailable:
        info["error"] = writer.unavailable
        info["replies"] = "extractive"
    if generator is not None and not writer.unavailable:
        info["model"] = generator.path
        info["adapter"] = str(generator.adapter) if generator.has_adapter else None
        info["languages"] = list(_languages(settings.generator_languages))
    return info


def _languages(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def build_answerer(settings: Settings):
    """Load the index and the embedder; errors name the missing path instead of failing on a question."""
    from bot.answering import ExtractiveAnswerer
    from knowledge_base.indexes import KnowledgeBase
    from knowledge_base.retriever import HybridRetriever
    from models.embedder import embedder_from_settings

    embedder = embedder_from_settings(settings)
    embedder.warm_up()
    kb = KnowledgeBase.load(settings.index_dir, expected_dimension=embedder.dimension)
    retriever = HybridRetriever(
        kb, embedder, top_k=settings.retrieval_top_k, dense_weight=settings.dense_weight, candidates=settings.retrieval_candidates
    )
    answerer = ExtractiveAnswerer(
        retriever, embedder, min_confidence=settings.min_confidence, max_sentences=settings.max_answer_sentences, top_k=settings.retrieval_top_k
    )
    # Every passage's sentences embedded before the first customer (cached next to the index).
    answerer.warm_up_sentences(settings.index_dir / f"sentence-vectors-{kb.generation}.npz")
    reader_info: dict = {"enabled": False}
    if settings.reader_enabled:
        from bot.reading import LadderThresholds, ReadingAnswerer
        from models.reader import reader_from_settings

        reader = reader_from_settings(settings)
        reader.warm_up()  # a missing or corrupt checkpoint fails start-up here, naming its path
        answerer = ReadingAnswerer(
            retriever, reader, answerer,
            thresholds=LadderThresholds(settings.reader_answer_threshold, settings.reader_clarify_threshold),
            passages=settings.reader_passages,
            languages=_languages(settings.reader_languages),
        )
        reader_info = {"enabled": True, "model": str(reader.model_dir), "int8": reader.quantize and reader.device == "cpu",
                       "languages": list(answerer.languages)}
    answerer.answer("warm-up question")  # first inference allocates; pay it before the first customer
    info = {
        "passages": len(kb),
        "index_generation": kb.generation,
        "embedder": embedder.model_name,
        "faiss_gpu": kb.dense.on_gpu,
        "reader": reader_info,
    }
    log.info("knowledge base ready: %s", info)
    return answerer, info


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


async def read_json_object(request: web.Request) -> dict:
    return decode_json_object(await request.read(), request.content_type)


# ---------------------------------------------------------------- routes


async def rest_webhook(request: web.Request) -> web.Response:
    """Rasa's REST channel: {"sender", "message"} in, a list of bot messages out."""
    body = await read_json_object(request)
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest('"sender" must be a non-empty string')
    if len(sender) > 256:
        raise BadRequest('"sender" is longer than 256 characters')
    if not isinstance(text, str):
        raise BadRequest('"message" must be a string')
    exchange = await request.app[DIALOGUE].handle(Message(channel="rest", sender=sender, text=text))
    reply = exchange.reply
    if reply.kind == "silent":
        return web.json_response([])  # a person has the conversation; Rasa's way of saying nothing
    return web.json_response(
        [
            {
                "recipient_id": sender,
                "text": reply.text,
                "custom": {**reply.custom(), "conversation_id": exchange.conversation.conversation_id},
            }
        ]
    )


async def rest_status(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """The widget's channel: JSON frames {"type": "message", "text"} in; hello, token, reply, error out.

    A generated reply streams: "token" frames carry its checked text as it is written, then the
    "reply" frame carries the whole reply, whose `text` is what to show in the end (it differs from
    the deltas when a late check replaced the draft with the extractive reply)."""
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=settings.max_body_bytes)
    await ws.prepare(request)
    sender = request.query.get("sender", "").strip()[:128] or uuid.uuid4().hex
    dialogue = request.app[DIALOGUE]
    conversation = await request.app[STORE].conversation_for("web", sender)
    await ws.send_json({"type": "hello", "conversation_id": conversation.conversation_id})
    async for frame in ws:
        if frame.type == WSMsgType.TEXT:
            try:
                data = json.loads(frame.data)
                if not isinstance(data, dict) or data.get("type") != "message":
                    raise BadRequest('expected {"type": "message", "text": "..."}')
                exchange = await dialogue.handle(Message(channel="web", sender=sender, text=data.get("text")),
                                                 on_delta=_delta_sender(ws))
            except json.JSONDecodeError:
                await ws.send_json({"type": "error", "error": "frame is not valid JSON"})
                continue
            except BotError as exc:
                await ws.send_json({"type": "error", "error": exc.message})
                continue
            reply = exchange.reply
            if reply.kind == "silent":
                await ws.send_json({"type": "waiting", "conversation_id": exchange.conversation.conversation_id, "owner": "human"})
                continue
            await ws.send_json(
                {
                    "type": "reply",
                    "conversation_id": exchange.conversation.conversation_id,
                    "text": reply.text,
                    **reply.custom(),
                }
            )
        elif frame.type == WSMsgType.BINARY:
            await ws.send_json({"type": "error", "error": "binary frames are not supported; send JSON text"})
        elif frame.type == WSMsgType.ERROR:
            log.info("websocket closed with error: %s", ws.exception())
    return ws


def _delta_sender(ws: web.WebSocketResponse):
    async def send(text: str) -> None:
        # A customer who closed the widget mid-reply costs nothing: the reply is still written and stored.
        if ws.closed:
            return
        try:
            await ws.send_json({"type": "token", "text": text})
        except (ConnectionResetError, RuntimeError):
            log.info("websocket closed while a reply streamed")

    return send


async def health(request: web.Request) -> web.Response:
    """"ok" (200) while the answer pipeline moves; "degraded" (503) when a stage has had work
    waiting for `watchdog_stall_seconds` without finishing any: a load balancer takes the worker out."""
    from models.grounding import STATS

    info = dict(request.app[HEALTH])
    if info.get("generator", {}).get("available"):
        # How often a generated reply failed its check and the template was sent instead, by kind.
        info["generator"] = {**info["generator"], "checks": STATS.snapshot()}
    status = 200
    stages = request.app.get(STAGES, ())
    if stages:
        limit = request.app[SETTINGS].watchdog_stall_seconds
        stalled = {p.name: round(p.stalled_for(), 1) for p in stages if p.stalled_for() > limit}
        info["pipeline"] = {p.name: {"pending": p.pending, "stalled_seconds": round(p.stalled_for(), 1)} for p in stages}
        if stalled and info.get("status") == "ok":
            info["status"] = "degraded"
            info["degraded"] = f"no progress for over {limit:g} s in: {', '.join(sorted(stalled))}"
            status = 503
    if SKIPS in request.app:
        # How often each stage was skipped under load or budget, and why (phrasing first, never the answer).
        info["skipped"] = request.app[SKIPS].snapshot()
    return web.json_response({**info, "version": bot.__version__}, status=status)


async def conversation_history(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    store = request.app[STORE]
    conversation = await store.get(conversation_id)
    turns = await store.history(conversation_id)
    return web.json_response({**conversation.to_wire(), "slots": conversation.slots, "turns": [t.to_wire() for t in turns]})


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
    # A fresh start for the bot: no half-finished question or failure count from before the handoff.
    await store.set_slots(conversation_id, {k: v for k, v in conversation.slots.items() if k in ("verified_email", "order_number")})
    conversation = await store.set_owner(conversation_id, "bot")
    await store.append(conversation_id, "system", "handed back to the bot", {"event": "handback"})
    return web.json_response(conversation.to_wire())


async def agent_message(request: web.Request) -> web.Response:
    """An agent writes to the customer: stored in the conversation and, on a chat channel, sent there
    (kept and retried like the bot's replies when the platform is down)."""
    conversation_id = request.match_info["conversation_id"]
    body = await read_json_object(request)
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


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def serve(settings: Settings) -> None:
    # SIGTERM: stop accepting, give requests in flight `shutdown_drain_seconds`, then close (cleanup
    # cancels generations at their next token, so no worker thread keeps the process alive).
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None,
                shutdown_timeout=settings.shutdown_drain_seconds,
                print=lambda *_: log.info("serving on http://%s:%d", settings.host, settings.port))
