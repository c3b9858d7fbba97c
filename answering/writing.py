"""The generator in the dialogue: phrased answers, written fallbacks and product suggestions, streamed.

answering.phrasing.ReplyWriter does the writing and the checking; this module runs it for the async
dialogue. A reply is written by a blocking generator of events, driven start to end by one call on a
dedicated executor (generations never starve retrieval and intents), and the text that has passed
its checks so far goes to `on_delta` as it comes: the WebSocket sends it to the widget token by
token, the REST channel passes no callback and gets the whole reply. Each reply has a deadline
(core.budget): generation that would not fit is skipped, and generation that runs late is abandoned,
so the customer gets the extractive reply in time.

What a customer finally sees is always `Reply.text`: when a generated draft fails its check late,
the template replaces it, and the final frame says so (`metadata["phrasing"]["replaced"]`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, Sequence

from answering.phrasing import ReplyDelta, ReplyDone, ReplyEvent, ReplyWriter
from core.budget import Deadline, Progress, SkipCounters
from core.slots import Slots
from core.types import Reply
from knowledge_base.catalog import Recommendations, asks_for_similar
from knowledge_base.text import detect_language

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]] | None
# Products remembered per conversation for "something like the last one" and follow-ups.
SHOWN_PRODUCTS = 5


_END = object()  # the worker's last word on the queue: the stream is over
ESTIMATE_DECAY = 0.95  # per skip for budget: about 14 skips halve an estimate


@dataclass(slots=True)
class _Estimate:
    """What generating one kind of reply took lately (exponentially weighted), to tell whether it fits."""

    first_visible: float | None = None
    whole: float | None = None

    def update(self, first_visible: float | None, whole: float, weight: float = 0.3) -> None:
        if first_visible is not None:
            self.first_visible = first_visible if self.first_visible is None else (1 - weight) * self.first_visible + weight * first_visible
        self.whole = whole if self.whole is None else (1 - weight) * self.whole + weight * whole


class DialogueWriter:
    """Async face of a ReplyWriter: `answer`, `fallback` and `recommendation` each return the Reply to
    send (the generated text when it passed its check in time, else the extractive one it was given).

    Generation is shed before anything else: it is skipped when the generator's batch is full
    ("busy": `concurrent` streams decoded together), while the answer pipeline has a backlog ("load"), when
    what it took lately does not fit the time left ("budget"), and abandoned when the deadline passes
    mid-way ("deadline"); each is counted in `skips`. `phrase_answers` False keeps quoted answers as they are (README: phrasing one quoted
    sentence is not worth its cost), while fallbacks and suggestions are still written."""

    def __init__(self, writer: ReplyWriter, executor: Executor, *, languages: Sequence[str] = ("en",),
                 phrase_answers: bool = True, max_waiting: int = 0, concurrent: int = 1, skips: SkipCounters | None = None,
                 progress: Progress | None = None, under_load: Callable[[], bool] | None = None) -> None:
        self.writer = writer
        self.executor = executor
        self.languages = tuple(languages)
        self.phrase_answers = phrase_answers
        # Generations the generator decodes together (its batch), and how many more may wait for a
        # place in it (0: only a generator with room is used).
        self.concurrent = max(1, concurrent)
        self.max_waiting = max_waiting
        self.skips = skips or SkipCounters()
        self.progress = progress or Progress("generator")
        # True while the answer pipeline has a backlog: generation shares the CPU with it, so it is
        # shed first ("load"), before any customer waits longer for an answer.
        self.under_load = under_load or (lambda: False)
        self._active = 0  # generations running or queued on the executor (event loop only)
        self._estimates: dict[str, _Estimate] = {}
        self._cancels: set[threading.Event] = set()

    @property
    def available(self) -> bool:
        return self.writer.generator is not None and not self.writer.unavailable

    def writes(self, text: str) -> bool:
        """Does the generator write replies to a message in this language?"""
        return self.available and detect_language(text) in self.languages

    async def answer(self, question: str, reply: Reply, on_delta: OnDelta = None, deadline: Deadline | None = None) -> Reply:
        """Phrase a knowledge-base answer from its extracted answer and cited passage."""
        if reply.kind != "answer" or not reply.sources or not self.phrase_answers or not self.writes(question):
            return reply
        span = reply.answer_span
        answer = span.text if span is not None else reply.text
        start = span.start if span is not None else None
        passage = reply.sources[0].passage
        done, streamed = await self._drive(
            "answer", lambda cancel: self.writer.stream_answer(question, answer, passage, answer_start=start, cancel=cancel),
            on_delta, deadline)
        return self._merge(reply, done, streamed)

    async def fallback(self, question: str, reply: Reply, on_delta: OnDelta = None, deadline: Deadline | None = None) -> Reply | None:
        """An honest "not found, shall I get a person?" written by the fine-tuned LM; None when the
        generator is off, the language is not written, it was shed, or the draft failed its check."""
        if not self.writes(question):
            return None
        done, streamed = await self._drive("fallback", lambda cancel: self.writer.stream_fallback(question, cancel=cancel),
                                           on_delta, deadline)
        if done is None or not done.reply.generated:  # (a rejected draft is logged and counted by the writer's stats)
            return None
        return Reply(done.reply.text, confidence=reply.confidence, kind="not_sure",
                     metadata={**reply.metadata, "phrasing": {"generated": True, "replaced": False}})

    async def recommendation(self, request: str, found: Recommendations, on_delta: OnDelta = None,
                             deadline: Deadline | None = None) -> Reply:
        """The suggestion for a request: the LM's introduction (when it passes in time) over catalog lines."""
        if not self.writes(request):
            return recommendation_reply(found)
        done, streamed = await self._drive(
            "recommendation", lambda cancel: self.writer.stream_recommendation(request, found, cancel=cancel), on_delta, deadline)
        if done is None:
            return recommendation_reply(found, phrasing={"generated": False, "replaced": streamed})
        phrased = done.reply
        return recommendation_reply(found, phrased.text, {"generated": phrased.generated, "replaced": done.replace})

    def busy(self) -> bool:
        return self._active >= self.concurrent + self.max_waiting

    def cancel_all(self) -> None:
        """Stop every generation in flight at its next token (shutdown)."""
        for cancel in list(self._cancels):
            cancel.set()

    # ------------------------------------------------------------------ plumbing

    def _merge(self, reply: Reply, done: ReplyDone | None, streamed: bool) -> Reply:
        if done is None:  # shed or abandoned: the extractive reply, replacing whatever streamed
            return reply.with_text(reply.text, phrasing={"generated": False, "replaced": streamed})
        phrased = done.reply
        if phrased.generated:
            return reply.with_text(phrased.text, phrasing={"generated": True, "replaced": False})
        # The extractive reply stands; `replaced` tells a streaming client to show it instead of the deltas.
        return reply.with_text(reply.text, phrasing={"generated": False, "replaced": done.replace})

    def _abandoned(self, kind: str, first_visible: float | None, elapsed: float) -> None:
        """Count a generation given up at its deadline; what it took so far is a lower bound of its cost."""
        self.skips.skipped("phrasing", "deadline")
        estimate = self._estimates.setdefault(kind, _Estimate())
        estimate.first_visible = max(estimate.first_visible or 0.0, first_visible if first_visible is not None else elapsed)
        estimate.whole = max(estimate.whole or 0.0, elapsed)
        return None

    def _fits(self, kind: str, deadline: Deadline | None) -> str | None:
        """Why generation of `kind` must be skipped now, or None when it may run."""
        if self.busy():
            return "busy"
        if self.under_load():
            return "load"
        if deadline is None:
            return None
        estimate = self._estimates.get(kind)
        if deadline.remaining() <= 0 or deadline.visible_remaining() <= 0:
            return "budget"
        if estimate is None:
            return None  # never measured: try it, the deadline still bounds it
        if deadline.streams:
            needed, left = estimate.first_visible or estimate.whole, deadline.visible_remaining()
            too_long = estimate.whole is not None and estimate.whole > deadline.remaining()
        else:
            needed, left = estimate.whole, deadline.remaining()
            too_long = False
        if too_long or (needed is not None and needed > left):
            # A stale estimate must not rule generation out for good: it shrinks with every skip,
            # so a faster generator (or a quieter machine) gets tried again.
            estimate.whole = estimate.whole * ESTIMATE_DECAY if estimate.whole is not None else None
            estimate.first_visible = estimate.first_visible * ESTIMATE_DECAY if estimate.first_visible is not None else None
            return "budget"
        return None

    async def _drive(self, kind: str, start: Callable[[threading.Event], Iterator[ReplyEvent]], on_delta: OnDelta,
                     deadline: Deadline | None) -> tuple[ReplyDone | None, bool]:
        """Write one reply: (its final event, or None when it was skipped or abandoned; whether any
        text streamed to `on_delta`).

        One worker thread drives the whole event stream, start to end, and hands events to the loop
        through a queue: the generator's lock is taken and released inside that one call, never held
        across an await or between tasks (a stream paused between executor jobs, with one generation
        thread, was the deadlock of two concurrent customers). When the deadline passes, `cancel`
        stops generation at the next token; the caller does not wait for it.

        If `on_delta` fails (the customer went away), streaming stops but the reply is still written:
        it is stored in the conversation and shown when the customer comes back."""
        reason = self._fits(kind, deadline)
        if reason is not None:
            self.skips.skipped("phrasing", reason)
            return None, False
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def post(item: object) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:  # the loop is closed (shutdown): nobody is waiting any more
                pass

        def work() -> None:
            stream = None
            try:
                if cancel.is_set():
                    return  # abandoned while it queued: the model is never touched
                stream = start(cancel)
                for event in stream:
                    post(event)
                    if isinstance(event, ReplyDone) or cancel.is_set():
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                post(exc)
            finally:
                if stream is not None and hasattr(stream, "close"):
                    stream.close()
                self.progress.finished()
                post(_END)

        self._active += 1
        self._cancels.add(cancel)
        self.progress.started()
        self.skips.ran("phrasing")
        started = loop.time()
        first_visible: float | None = None
        streamed = False
        try:
            loop.run_in_executor(self.executor, work)
        except RuntimeError:  # the executor is shut down: the server is stopping
            self._active -= 1
            self._cancels.discard(cancel)
            self.progress.finished()
            self.skips.skipped("phrasing", "stopping")
            return None, False
        try:
            while True:
                if deadline is None:
                    timeout = None
                else:
                    timeout = deadline.remaining() if first_visible is not None else min(deadline.remaining(), deadline.visible_remaining())
                    if timeout <= 0:
                        return self._abandoned(kind, first_visible, loop.time() - started), streamed
                try:
                    item = await asyncio.wait_for(events.get(), timeout)
                except asyncio.TimeoutError:
                    return self._abandoned(kind, first_visible, loop.time() - started), streamed
                if item is _END or isinstance(item, BaseException):
                    # A writer that broke costs this reply its phrasing, never the answer.
                    log.error("generation of a %s failed; the extractive reply is sent: %s", kind,
                              "stopped without a final event" if item is _END else f"{type(item).__name__}: {item}")
                    self.skips.skipped("phrasing", "failed")
                    return None, streamed
                if isinstance(item, ReplyDelta):
                    if first_visible is None:
                        first_visible = loop.time() - started
                    if on_delta is not None:
                        try:
                            await on_delta(item.text)
                            streamed = True
                        except Exception as exc:  # noqa: BLE001 - a lost stream must not lose the reply
                            log.info("streaming stopped (%s); the reply is still written", exc)
                            on_delta = None
                    continue
                self._estimates.setdefault(kind, _Estimate()).update(first_visible, loop.time() - started)
                return item, streamed
        finally:
            cancel.set()  # a no-op when the stream ended; else generation stops at its next token
            self._cancels.discard(cancel)
            self._active -= 1


class Shopping:
    """Product suggestions in the dialogue: is this message a shopping request, and what to suggest.

    `recommender` is a knowledge_base.recommend.ProductRecommender; it runs on `executor` (it embeds the request).
    """

    def __init__(self, recommender: Any, executor: Executor, writer: DialogueWriter | None = None) -> None:
        self.recommender = recommender
        self.executor = executor
        self.writer = writer

    def is_request(self, text: str) -> bool:
        return self.recommender.is_request(text)

    async def suggest(self, request: str, slots: Slots, on_delta: OnDelta = None,
                      deadline: Deadline | None = None) -> Reply:
        """Candidates for `request` in the light of the conversation (products shown before, earlier
        requests), written up; the products shown are remembered in `slots`."""
        history = list(slots.shopping_requests)
        shown = [self.recommender.catalog().get(sku) for sku in slots.shown_products]
        shown = [p for p in shown if p is not None]
        # "something like the last one": the first product shown last time leads the search.
        like = shown[0] if shown and asks_for_similar(request) else None
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self.executor, lambda: self.recommender.run(request, history=history, similar_to=like))
        reply = await self.writer.recommendation(request, found, on_delta, deadline) if self.writer else recommendation_reply(found)
        if found.products:
            slots.shown_products = [p.sku for p in found.products][:SHOWN_PRODUCTS]
        slots.shopping_requests = (history + [request])[-3:]
        return reply


def recommendation_reply(found: Recommendations, text: str | None = None, phrasing: dict | None = None) -> Reply:
    """The Reply for a recommendation: `text` (default: the catalog template) and, for the wire, the
    products with their SKU, title and price from the catalog (REST `custom.products`)."""
    from answering.prompts import recommendation_template

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
