"""The generator in the dialogue: phrased answers, written fallbacks and product suggestions, streamed.

models.phrasing.ReplyWriter does the writing and the checking; this module runs it for the async
dialogue. A reply is written by a blocking generator of events, so each step (`next`) runs on a
dedicated executor (bounded: generations queue instead of starving retrieval and intents), and the
text that has passed its checks so far goes to `on_delta` as it comes: the WebSocket sends it to the
widget token by token, the REST channel passes no callback and gets the whole reply.

What a customer finally sees is always `Reply.text`: when a generated draft fails its check late,
the template replaces it, and the final frame says so (`metadata["phrasing"]["replaced"]`).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Any, Awaitable, Callable, Iterator, Sequence

from bot.recommend import Recommendations, asks_for_similar
from bot.types import Reply
from knowledge_base.text import detect_language
from models.phrasing import ReplyDelta, ReplyDone, ReplyEvent, ReplyWriter

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]] | None
# Products remembered per conversation for "something like the last one" and follow-ups.
SHOWN_PRODUCTS = 5


class DialogueWriter:
    """Async face of a ReplyWriter: `answer`, `fallback` and `recommendation` each return the Reply to
    send (the generated text when it passed its check, else the extractive one it was given)."""

    def __init__(self, writer: ReplyWriter, executor: Executor, *, languages: Sequence[str] = ("en",)) -> None:
        self.writer = writer
        self.executor = executor
        self.languages = tuple(languages)

    @property
    def available(self) -> bool:
        return self.writer.generator is not None and not self.writer.unavailable

    def writes(self, text: str) -> bool:
        """Does the generator write replies to a message in this language?"""
        return self.available and detect_language(text) in self.languages

    async def answer(self, question: str, reply: Reply, on_delta: OnDelta = None) -> Reply:
        """Phrase a knowledge-base answer from its extracted answer and cited passage."""
        if reply.kind != "answer" or not reply.sources or not self.writes(question):
            return reply
        extracted = reply.metadata.get("answer") if isinstance(reply.metadata.get("answer"), dict) else None
        answer = extracted.get("text", "") if extracted else reply.text
        start = extracted.get("start") if extracted else None
        passage = reply.sources[0].passage
        done = await self._drive(
            lambda: self.writer.stream_answer(question, answer, passage, answer_start=start), on_delta)
        return self._merge(reply, done)

    async def fallback(self, question: str, reply: Reply, on_delta: OnDelta = None) -> Reply | None:
        """An honest "not found, shall I get a person?" written by the fine-tuned LM; None when the
        generator is off, the language is not written, or the draft failed its check."""
        if not self.writes(question):
            return None
        done = await self._drive(lambda: self.writer.stream_fallback(question), on_delta)
        if not done.reply.generated:  # (the rejected draft is logged and counted by the writer's stats)
            return None
        return Reply(done.reply.text, confidence=reply.confidence, kind="not_sure",
                     metadata={**reply.metadata, "phrasing": {"generated": True, "replaced": False}})

    async def recommendation(self, request: str, found: Recommendations, on_delta: OnDelta = None) -> Reply:
        """The suggestion for a request: the LM's introduction (when it passes) over catalog lines."""
        if not self.writes(request):
            return recommendation_reply(found)
        done = await self._drive(lambda: self.writer.stream_recommendation(request, found), on_delta)
        phrased = done.reply
        return recommendation_reply(found, phrased.text, {"generated": phrased.generated, "replaced": done.replace})

    # ------------------------------------------------------------------ plumbing

    def _merge(self, reply: Reply, done: ReplyDone) -> Reply:
        phrased = done.reply
        if phrased.generated:
            return reply.with_text(phrased.text, phrasing={"generated": True, "replaced": False})
        # The extractive reply stands; `replaced` tells a streaming client to show it instead of the deltas.
        return reply.with_text(reply.text, phrasing={"generated": False, "replaced": done.replace})

    async def _drive(self, start: Callable[[], Iterator[ReplyEvent]], on_delta: OnDelta) -> ReplyDone:
        """Run a writer's event stream on the executor, passing deltas to `on_delta`, until ReplyDone.
        If `on_delta` fails (the customer went away), streaming stops but the reply is still written:
        it is stored in the conversation and shown when the customer comes back."""
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(self.executor, start)
        try:
            while True:
                event = await loop.run_in_executor(self.executor, next, events, None)
                if event is None:
                    raise RuntimeError("the reply writer stopped without a final event")
                if isinstance(event, ReplyDelta):
                    if on_delta is not None:
                        try:
                            await on_delta(event.text)
                        except Exception as exc:  # noqa: BLE001 - a lost stream must not lose the reply
                            log.info("streaming stopped (%s); the reply is still written", exc)
                            on_delta = None
                    continue
                return event
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                await loop.run_in_executor(self.executor, close)


class Shopping:
    """Product suggestions in the dialogue: is this message a shopping request, and what to suggest.

    `recommender` is a bot.recommend.ProductRecommender; it runs on `executor` (it embeds the request).
    """

    def __init__(self, recommender: Any, executor: Executor, writer: DialogueWriter | None = None) -> None:
        self.recommender = recommender
        self.executor = executor
        self.writer = writer

    def is_request(self, text: str) -> bool:
        return self.recommender.is_request(text)

    async def suggest(self, request: str, slots: dict[str, Any], on_delta: OnDelta = None) -> Reply:
        """Candidates for `request` in the light of the conversation (products shown before, earlier
        requests), written up; the products shown are remembered in `slots`."""
        history = list(slots.get("shopping_requests", []))
        shown = [self.recommender.catalog().get(sku) for sku in slots.get("shown_products", [])]
        shown = [p for p in shown if p is not None]
        # "something like the last one": the first product shown last time leads the search.
        like = shown[0] if shown and asks_for_similar(request) else None
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self.executor, lambda: self.recommender.run(request, history=history, similar_to=like))
        reply = await self.writer.recommendation(request, found, on_delta) if self.writer else recommendation_reply(found)
        if found.products:
            slots["shown_products"] = [p.sku for p in found.products][:SHOWN_PRODUCTS]
        slots["shopping_requests"] = (history + [request])[-3:]
        return reply


def recommendation_reply(found: Recommendations, text: str | None = None, phrasing: dict | None = None) -> Reply:
    """The Reply for a recommendation: `text` (default: the catalog template) and, for the wire, the
    products with their SKU, title and price from the catalog (REST `custom.products`)."""
    from models.phrasing import recommendation_template

    return Reply(
        recommendation_template(found) if text is None else text,
        confidence=1.0 if found.products else 0.0,
        kind="recommendation",
        metadata={
            "products": [p.to_wire() for p in found.products],
            "constraints": found.constraints.to_wire(),
            "phrasing": phrasing or {"generated": False, "replaced": False},
            **({"unmet": found.unmet} if found.unmet else {}),
        },
    )
