"""The aiohttp dialogue server: app factory, routes, and the one place errors become HTTP statuses."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator, Protocol, Sequence

from aiohttp import WSMsgType, web

import bot
from bot.batching import MicroBatcher
from bot.conversations import ConversationStore, SQLiteConversationStore
from bot.dialogue import DialogueService
from bot.errors import BadRequest, BotError, UnsupportedMediaType
from bot.settings import Settings
from bot.types import Message, Reply

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("conversation_store", object)
DIALOGUE = web.AppKey("dialogue", DialogueService)
HEALTH = web.AppKey("health", dict)

class BatchAnswerer(Protocol):
    def answer_many(self, questions: Sequence[str]) -> list[Reply]: ...


def create_app(
    settings: Settings,
    *,
    store: ConversationStore | None = None,
    answerer: BatchAnswerer | None = None,
) -> web.Application:
    """Build the app. `store` and `answerer` replace the SQLite store and the model pipeline built
    from settings (tests pass a fake, or one real pipeline shared by many apps)."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[HEALTH] = {"status": "starting"}
    app.cleanup_ctx.append(_conversation_store(store))
    app.cleanup_ctx.append(_answer_pipeline(answerer))
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_get("/webhooks/rest/", rest_status)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/health", health)
    app.router.add_get("/api/conversations/{conversation_id}", conversation_history)
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


def _answer_pipeline(answerer: BatchAnswerer | None):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        executor = ThreadPoolExecutor(max_workers=settings.inference_workers, thread_name_prefix="inference")
        pipeline = answerer
        if pipeline is None:
            # Loading models takes seconds: done off the loop, before the server accepts requests.
            pipeline, info = await asyncio.get_running_loop().run_in_executor(executor, build_answerer, settings)
            app[HEALTH].update(info)
        batcher = MicroBatcher(pipeline.answer_many, executor, max_batch=16)
        await batcher.start()
        app[DIALOGUE] = DialogueService(app[STORE], batcher.submit, max_message_chars=settings.max_message_chars)
        app[HEALTH]["status"] = "ok"
        yield
        await batcher.stop()
        executor.shutdown(wait=False, cancel_futures=True)

    return ctx


def build_answerer(settings: Settings):
    """Load the index and the embedder; errors name the missing path instead of failing on a question."""
    from bot.answering import ExtractiveAnswerer
    from knowledge_base.indexes import KnowledgeBase
    from knowledge_base.retriever import HybridRetriever
    from models.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(settings.embedder_model or None, batch_size=settings.embedder_batch_size)
    embedder.warm_up()
    kb = KnowledgeBase.load(settings.index_dir, expected_dimension=embedder.dimension)
    retriever = HybridRetriever(
        kb, embedder, top_k=settings.retrieval_top_k, dense_weight=settings.dense_weight, candidates=settings.retrieval_candidates
    )
    answerer = ExtractiveAnswerer(
        retriever, embedder, min_confidence=settings.min_confidence, max_sentences=settings.max_answer_sentences, top_k=settings.retrieval_top_k
    )
    answerer.answer("warm-up question")  # first inference allocates; pay it before the first customer
    info = {
        "passages": len(kb),
        "index_generation": kb.generation,
        "embedder": embedder.model_name,
        "faiss_gpu": kb.dense.on_gpu,
    }
    log.info("knowledge base ready: %s", info)
    return answerer, info


# ---------------------------------------------------------------- errors, in one place


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
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


async def read_json_object(request: web.Request) -> dict:
    if request.content_type not in ("application/json", "application/octet-stream", "text/plain", ""):
        raise UnsupportedMediaType(f"expected application/json, got {request.content_type}")
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


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
    """The widget's channel: JSON frames {"type": "message", "text"} in; hello, reply, error out."""
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
                exchange = await dialogue.handle(Message(channel="web", sender=sender, text=data.get("text")))
            except json.JSONDecodeError:
                await ws.send_json({"type": "error", "error": "frame is not valid JSON"})
                continue
            except BotError as exc:
                await ws.send_json({"type": "error", "error": exc.message})
                continue
            reply = exchange.reply
            await ws.send_json(
                {
                    "type": "reply",
                    "conversation_id": exchange.conversation.conversation_id,
                    "text": reply.text,
                    **reply.custom(),
                    "products": [],
                }
            )
        elif frame.type == WSMsgType.BINARY:
            await ws.send_json({"type": "error", "error": "binary frames are not supported; send JSON text"})
        elif frame.type == WSMsgType.ERROR:
            log.info("websocket closed with error: %s", ws.exception())
    return ws


async def health(request: web.Request) -> web.Response:
    return web.json_response({**request.app[HEALTH], "version": bot.__version__})


async def conversation_history(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    store = request.app[STORE]
    conversation = await store.get(conversation_id)
    turns = await store.history(conversation_id)
    return web.json_response(
        {
            "conversation_id": conversation.conversation_id,
            "channel": conversation.channel,
            "sender": conversation.sender,
            "owner": conversation.owner,
            "created_at": conversation.created_at.isoformat(),
            "turns": [t.to_wire() for t in turns],
        }
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def serve(settings: Settings) -> None:
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None,
                print=lambda *_: log.info("serving on http://%s:%d", settings.host, settings.port))
