"""A Rasa action server on rasa-sdk: a Rasa assistant calls our knowledge base, product
recommendations and handoff to a person as custom actions (`python -m bot actions`, docs/rasa.md).

The endpoint is rasa-sdk's own (POST /webhook, GET /actions, GET /health); this module supplies the
three actions and the resources they share. Actions get their dependencies in `__init__`, so nothing
loads a model at import time, and every model call runs on a small thread pool: the Sanic loop keeps
answering while a question is being embedded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from core.errors import BotError, ConfigurationError, MessageTooLarge
from core.ports import ConversationStore
from core.settings import Settings
from core.types import Reply
from core.wording import SORRY, clean_text, handoff_text
from knowledge_base.catalog import Recommendations, describe
from knowledge_base.text import detect_language

log = logging.getLogger(__name__)

ACTION_ANSWER = "action_answer_from_knowledge_base"
ACTION_RECOMMEND = "action_recommend_products"
ACTION_HANDOFF = "action_handoff_to_human"
ACTION_NAMES = (ACTION_ANSWER, ACTION_RECOMMEND, ACTION_HANDOFF)
CHANNEL = "rasa"  # conversations handed off from Rasa, in our conversation store
HANDOFF_REASON = "contact_human_agent"
HISTORY_TURNS = 3  # earlier customer messages the recommender sees
TRANSCRIPT_EVENTS = 10  # recent Rasa turns kept with the handoff, for the agent

NO_QUESTION = "Sorry, I didn't get a question. What would you like to know? I can help with returns, shipping, payment, warranty and your account."
NO_REQUEST = "Tell me what you're looking for, for example \"a laptop for school under $800\", and I'll suggest a few products."
TOO_LONG = "That message is too long for me ({length} characters; the limit is {limit}). Could you say it in fewer words?"
HANDOFF_FAILED = (
    "Sorry, I couldn't reach our support team just now. Please try again in a moment, "
    "or write to us by e-mail and a person will get back to you."
)

T = TypeVar("T")


class Answerer(Protocol):
    def answer(self, question: str) -> Reply: ...


class Recommender(Protocol):
    def run(self, request: str, *, max_results: int | None = None, history: Sequence[str] = ()) -> Recommendations: ...


class InferencePool:
    """Runs blocking model calls on a bounded set of threads, off the event loop."""

    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rasa-actions")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text")
    return text if isinstance(text, str) else ""


def earlier_user_texts(tracker: Tracker, limit: int = HISTORY_TURNS) -> list[str]:
    """The customer's messages before the latest one, oldest first."""
    texts = [e.get("text") for e in tracker.events if e.get("event") == "user" and isinstance(e.get("text"), str)]
    if texts and texts[-1] == latest_text(tracker):
        texts = texts[:-1]  # the latest user event is the message being handled
    return [t for t in texts if t.strip()][-limit:] if limit > 0 else []


class _TextAction(Action):
    """Shared reading of the customer's latest message."""

    def __init__(self, settings: Settings, pool: InferencePool) -> None:
        self.settings = settings
        self.pool = pool

    def read(self, dispatcher: CollectingDispatcher, tracker: Tracker, empty_reply: str) -> str | None:
        """The cleaned text, or None after telling the customer what is wrong with it."""
        try:
            return clean_text(latest_text(tracker), self.settings.max_message_chars)
        except MessageTooLarge as exc:
            dispatcher.utter_message(text=TOO_LONG.format(**exc.details))
        except BotError:
            dispatcher.utter_message(text=empty_reply)
        return None


class AnswerFromKnowledgeBase(_TextAction):
    """Answers the latest message from the store's documents, citing them.

    The reply's `custom` payload is our REST channel's: sources, confidence and kind. Slots
    kb_answer_found / kb_confidence / kb_source tell conditional responses and later actions whether
    it found an answer, and where.
    """

    def __init__(self, answerer: Answerer, settings: Settings, pool: InferencePool) -> None:
        super().__init__(settings, pool)
        self.answerer = answerer

    def name(self) -> str:
        return ACTION_ANSWER

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        question = self.read(dispatcher, tracker, NO_QUESTION)
        if question is None:
            return _kb_slots(None)
        try:
            reply = await self.pool.run(self.answerer.answer, question)
        except Exception:
            log.exception("%s failed for sender %s", ACTION_ANSWER, tracker.sender_id)
            dispatcher.utter_message(text=SORRY)
            return _kb_slots(None)
        # utter_message puts json_message under "custom", the field Rasa's channels forward as is.
        dispatcher.utter_message(text=reply.text, json_message=reply.custom())
        return _kb_slots(reply)


def _kb_slots(reply: Reply | None) -> list[dict[str, Any]]:
    found = reply is not None and reply.kind == "answer" and bool(reply.sources)
    return [
        SlotSet("kb_answer_found", found),
        SlotSet("kb_confidence", round(float(reply.confidence), 4) if reply is not None else 0.0),
        SlotSet("kb_source", reply.sources[0].document if found else None),
    ]


class RecommendProducts(_TextAction):
    """Suggests in-stock catalog products meeting the request's price and category constraints."""

    def __init__(self, recommender: Recommender, settings: Settings, pool: InferencePool) -> None:
        super().__init__(settings, pool)
        self.recommender = recommender

    def name(self) -> str:
        return ACTION_RECOMMEND

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        request = self.read(dispatcher, tracker, NO_REQUEST)
        if request is None:
            return [SlotSet("recommended_skus", [])]
        try:
            found = await self.pool.run(self.recommender.run, request, history=earlier_user_texts(tracker))
        except Exception:
            log.exception("%s failed for sender %s", ACTION_RECOMMEND, tracker.sender_id)
            dispatcher.utter_message(text=SORRY)
            return [SlotSet("recommended_skus", [])]
        dispatcher.utter_message(text=describe(found), json_message={"products": [p.to_wire() for p in found.products]})
        return [SlotSet("recommended_skus", [p.sku for p in found.products])]


class HandoffToHuman(Action):
    """Passes the conversation to a person: recorded in our conversation store (the agent console's
    /api/handoffs lists it) and paused in Rasa with its own ConversationPaused event."""

    def __init__(self, store: ConversationStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def name(self) -> str:
        return ACTION_HANDOFF

    def message(self, language: str = "en") -> str:
        return handoff_text(HANDOFF_REASON, self.settings.support_hours, language)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        text = _storable(latest_text(tracker), self.settings.max_message_chars)
        try:
            await self._record(tracker, text)
        except BotError as exc:
            # Unrecorded, no agent would ever see it: better to say so than to pause into silence.
            log.error("%s could not record the handoff of %s: %s", ACTION_HANDOFF, tracker.sender_id, exc.message)
            dispatcher.utter_message(text=HANDOFF_FAILED)
            return [SlotSet("handoff_requested", False)]
        language = detect_language(text) if text else "en"  # told in the customer's language
        dispatcher.utter_message(text=self.message(language), json_message={"kind": "handoff", "handoff": {"reason": HANDOFF_REASON, "owner": "human"}})
        return [SlotSet("handoff_requested", True), ConversationPaused()]

    async def _record(self, tracker: Tracker, text: str) -> None:
        conversation = await self.store.conversation_for(CHANNEL, tracker.sender_id)
        cid = conversation.conversation_id
        if text:
            await self.store.append(cid, "customer", text, {"channel": CHANNEL})
        await self.store.set_owner(cid, "human", HANDOFF_REASON)
        await self.store.append(
            cid,
            "system",
            "handed to a person by the Rasa assistant",
            {"event": "handoff", "reason": HANDOFF_REASON, "action": ACTION_HANDOFF, "rasa_transcript": _transcript(tracker)},
        )


def _storable(text: str, max_chars: int) -> str:
    """The customer's words as the dialogue would store them; nothing when there are none."""
    try:
        return clean_text(text, max_chars)
    except MessageTooLarge:
        return text.strip()[:max_chars]
    except BotError:
        return ""


def _transcript(tracker: Tracker, limit: int = TRANSCRIPT_EVENTS) -> list[dict[str, str]]:
    """The last few messages of the Rasa conversation, so the agent sees what led here."""
    turns = [
        {"role": "customer" if e["event"] == "user" else "bot", "text": e["text"]}
        for e in tracker.events
        if e.get("event") in ("user", "bot") and isinstance(e.get("text"), str) and e["text"].strip()
    ]
    return turns[-limit:]


# ---------------------------------------------------------------- wiring


@dataclass
class ActionResources:
    """What the actions share; `open()` before the first request and `close()` after the last."""

    settings: Settings
    answerer: Answerer
    recommender: Recommender
    store: ConversationStore
    pool: InferencePool
    info: dict[str, Any] = field(default_factory=dict)
    _closing: asyncio.Future | None = field(default=None, init=False, repr=False)

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        # Once, however often it is called: under uvloop, Sanic's shutdown re-runs the after_server_stop
        # listeners when the first run is cut short by the stopped loop, while the first is still pending.
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        try:
            await self.store.close()
        finally:
            self.pool.shutdown()


def build_action_executor(
    settings: Settings,
    *,
    answerer: Answerer,
    recommender: Recommender,
    store: ConversationStore,
    info: dict[str, Any] | None = None,
) -> tuple[ActionExecutor, ActionResources]:
    """rasa-sdk's ActionExecutor with our three actions registered over the given parts (the
    composition root, bot.assembly.build_rasa_actions, builds the real ones); `store` is not yet open."""
    resources = ActionResources(
        settings=settings,
        answerer=answerer,
        recommender=recommender,
        store=store,
        pool=InferencePool(settings.inference_workers),
        info=dict(info or {}),
    )
    executor = ActionExecutor()
    executor.register_action(AnswerFromKnowledgeBase(answerer, settings, resources.pool))
    executor.register_action(RecommendProducts(recommender, settings, resources.pool))
    executor.register_action(HandoffToHuman(resources.store, settings))
    return executor, resources


def create_action_app(executor: ActionExecutor, resources: ActionResources):
    """rasa-sdk's Sanic app (POST /webhook, GET /actions, GET /health), opening and closing our resources."""
    from rasa_sdk.endpoint import create_app

    app = create_app(executor, cors_origins=None)

    async def open_resources(app, loop):
        await resources.open()

    async def close_resources(app, loop):
        await resources.close()

    app.register_listener(open_resources, "before_server_start")
    app.register_listener(close_resources, "after_server_stop")
    return app


def run_action_server(executor: ActionExecutor, resources: ActionResources, host: str = "127.0.0.1", port: int = 5055) -> None:
    """Serve the actions until SIGINT/SIGTERM, in this one process."""
    app = create_action_app(executor, resources)
    log.info("Rasa action server on http://%s:%d/webhook (actions: %s)", host, port, ", ".join(ACTION_NAMES))
    # One process: the models are loaded once, here; Sanic's default would spawn a worker process
    # that loads them again (and would need the app importable by name).
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)


def check_port_free(host: str, port: int) -> None:
    """Fail with a one-line error, as Sanic would only fail with a traceback once the models are loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}", host=host, port=port) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Sanic binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}", host=host, port=port) from None
