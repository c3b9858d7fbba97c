"""Replies written by the generator, checked before they are sent, with a template behind each.

Three kinds, one prompt and one template each:
- "answer": the reader's extracted answer phrased as a short friendly reply. Template: the passage's
  sentence that holds the answer. Check: answering.grounding.check_grounded against the text shown.
- "fallback": the reader found nothing; the reply says so and offers a human. Template: a fixed
  honest reply. Check: check_fallback (no number, price, duration or policy).
- "recommendation": the model writes one introductory line for the request; the candidates' lines
  (title, SKU, price) are printed under it from the catalog, never generated. Template:
  knowledge_base.catalog.describe's list. Check: check_recommendation (no product but the candidates, no price
  but theirs or the request's) and no parroting of the request.

Every reply streams: `stream_*` yields `ReplyDelta`s, text that has passed the checks so far and is
settled (a number, a capitalised word or a SKU is held back until two more words follow it, so "30"
is not shown before "days" or "weeks" is known), then one `ReplyDone`. When the whole reply fails
its check (the answer never came, or a problem appeared late), `ReplyDone.replace` is True and its
text, the template, replaces whatever was streamed. Generation stops at the first problem.
`phrase_answer`, `write_fallback` and `write_recommendation` return the final `Phrased` at once.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from answering.grounding import (
    REFUSALS,
    GroundingResult,
    GroundingStats,
    answer_in,
    check_fallback,
    check_grounded,
    check_recommendation,
    prompt_attack,
)
from answering.prompts import (
    CONTEXT_CHARS,
    FALLBACK_TEMPLATE,
    MAX_NEW_TOKENS,
    answer_context,
    answer_messages,
    answer_template,
    fallback_messages,
    product_line,
    recommendation_messages,
    recommendation_template,
)
from core.errors import BotError

log = logging.getLogger(__name__)


# The lag of a streamed reply: a settled word is followed by this many complete words.
HOLD_WORDS = 2


# ---------------------------------------------------------------------- results and events


@dataclass(frozen=True, slots=True)
class Phrased:
    text: str
    generated: bool  # False: the template (or a refusal)
    problems: tuple[str, ...] = ()  # why the generated draft was rejected
    kind: str = "answer"  # "answer", "fallback", "recommendation", "refusal"
    draft: str | None = None  # the rejected draft, for logs


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    reply: Phrased
    # True when reply.text is not what the deltas spelled out (a template): show it in their place.
    replace: bool


ReplyEvent = ReplyDelta | ReplyDone

_SENSITIVE_CASE = re.compile(r"\d|[$€£%]|^[A-Z]")


def settled_end(text: str, hold: int = HOLD_WORDS) -> int:
    """How much of `text` (complete words only) can be shown: everything but a trailing run of
    sensitive words (numbers, capitalised words, number words) with fewer than `hold` words after it."""
    words = [m.group(0) for m in re.finditer(r"\S+", text)]
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    if not words:
        return 0
    n = len(words)

    def sensitive(i: int) -> bool:
        if not _is_sensitive(words[i]):
            return False
        # A sentence's capitalised first word followed by an ordinary word ("You can") is no name.
        starts = i == 0 or words[i - 1].endswith((".", "!", "?", ":"))
        plain_capital = not re.search(r"\d|[$€£%]", words[i]) and words[i].strip("\"'“‘(").lower() not in _NUMBER_WORDS
        return not (starts and plain_capital and i + 1 < n and not _is_sensitive(words[i + 1]))

    first_held = None
    for i in range(max(0, n - hold), n):
        if sensitive(i):
            first_held = i
            break
    if first_held is None:
        return ends[-1]
    while first_held > 0 and sensitive(first_held - 1):
        first_held -= 1
    return ends[first_held - 1] if first_held > 0 else 0


_NUMBER_WORDS = {
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred", "thousand", "a", "an", "may",
}


def _is_sensitive(word: str) -> bool:
    core = word.strip("\"'“”‘’()[],;:!?.")
    return bool(core) and bool(_SENSITIVE_CASE.search(core) or core.lower().split("-")[0] in _NUMBER_WORDS)


# ---------------------------------------------------------------------- the writer


class ReplyWriter:
    """Writes replies with a CausalLMGenerator, checks them, and falls back to templates.

    `generator` None (or one that fails to load or to run) means templates only: the bot keeps
    answering extractively. The adapter (fine-tuned for fallbacks and recommendations) is on for
    those two kinds; `answer_adapter` says whether it is on for phrasing answers too.
    """

    def __init__(
        self,
        generator=None,
        *,
        stats: GroundingStats | None = None,
        max_new_tokens: int | None = None,
        context_chars: int = CONTEXT_CHARS,
        answer_adapter: bool = False,
        catalog: Sequence[Any] = (),
        hold_words: int = HOLD_WORDS,
    ) -> None:
        self.generator = generator
        self.stats = stats if stats is not None else GroundingStats()  # per writer: the app reports its own
        self.max_new_tokens = max_new_tokens
        self.context_chars = context_chars
        self.answer_adapter = answer_adapter
        self.catalog = tuple(catalog)
        self.hold_words = hold_words
        self.unavailable: str | None = None  # why the generator is not used (a load error)

    def warm_up(self) -> None:
        """Load the generator; a ModelLoadError is logged and leaves the writer on templates."""
        if self.generator is None or self.unavailable:
            return
        try:
            self.generator.warm_up()
        except BotError as exc:
            self.unavailable = exc.message
            log.warning("generator unavailable, replies stay extractive: %s", exc.message)

    # ------------------------------------------------------------------ the three kinds

    def phrase_answer(self, question: str, answer: str, passage: str, *, answer_start: int | None = None,
                      max_new_tokens: int | None = None) -> Phrased:
        return _last(self.stream_answer(question, answer, passage, answer_start=answer_start, max_new_tokens=max_new_tokens))

    def stream_answer(self, question: str, answer: str, passage: str, *, answer_start: int | None = None,
                      max_new_tokens: int | None = None, cancel: threading.Event | None = None) -> Iterator[ReplyEvent]:
        context = answer_context(answer, passage, answer_start, self.context_chars)
        template = answer_template(answer, passage, answer_start)
        return self._guarded(
            "answer",
            answer_messages(question, answer, context),
            lambda text, partial: check_grounded(text, answer, context, partial=partial, question=question),
            template,
            use_adapter=self.answer_adapter,
            # A long extracted answer (two quoted sentences) needs room to be restated whole.
            max_new_tokens=max_new_tokens or (None if self.max_new_tokens else min(160, max(MAX_NEW_TOKENS["answer"], len(answer) // 3 + 16))),
            # One sentence: the reply ends with the first sentence that holds the answer.
            finished=lambda text: text if text.rstrip().endswith((".", "!", "?")) and answer_in(answer, text) else None,
            cancel=cancel,
        )

    def write_fallback(self, question: str, *, max_new_tokens: int | None = None) -> Phrased:
        return _last(self.stream_fallback(question, max_new_tokens=max_new_tokens))

    def stream_fallback(self, question: str, *, max_new_tokens: int | None = None,
                        cancel: threading.Event | None = None) -> Iterator[ReplyEvent]:
        attack = prompt_attack(question)
        if attack:
            return iter([ReplyDone(Phrased(REFUSALS[attack], False, (f"prompt attack: {attack}",), "refusal"), replace=True)])
        return self._guarded("fallback", fallback_messages(question), lambda text, partial: check_fallback(text, partial=partial),
                             FALLBACK_TEMPLATE, use_adapter=True, max_new_tokens=max_new_tokens, cancel=cancel)

    def write_recommendation(self, request: str, products: Any, *, catalog: Sequence[Any] | None = None,
                             max_new_tokens: int | None = None) -> Phrased:
        return _last(self.stream_recommendation(request, products, catalog=catalog, max_new_tokens=max_new_tokens))

    def stream_recommendation(self, request: str, products: Any, *, catalog: Sequence[Any] | None = None,
                              max_new_tokens: int | None = None,
                              cancel: threading.Event | None = None) -> Iterator[ReplyEvent]:
        """`products`: a knowledge_base.catalog.Recommendations, or the candidate Products themselves."""
        candidates = tuple(getattr(products, "products", products))
        template = recommendation_template(products)
        attack = prompt_attack(request)
        if attack:
            return iter([ReplyDone(Phrased(REFUSALS[attack], False, (f"prompt attack: {attack}",), "refusal"), replace=True)])
        if not candidates:  # nothing fits: the template says which constraint could not be met
            return iter([ReplyDone(Phrased(template, False, (), "recommendation"), replace=True)])
        known = tuple(catalog) if catalog is not None else self.catalog
        return self._with_product_lines(self._guarded(
            "recommendation",
            recommendation_messages(request, candidates),
            # The introduction may name a candidate but needs none: the lines below name them all.
            lambda text, partial: _introduction_check(text, request, candidates, known, partial),
            template,
            use_adapter=True,
            max_new_tokens=max_new_tokens,
            finished=_first_line,
            cancel=cancel,
        ), candidates)

    @staticmethod
    def _with_product_lines(events: Iterator[ReplyEvent], candidates: Sequence[Any]) -> Iterator[ReplyEvent]:
        """The model's introduction, then one line per candidate printed from the catalog: every title,
        SKU and price a customer sees comes from the catalog itself."""
        lines = "\n".join(product_line(p) for p in candidates)
        for event in events:
            if isinstance(event, ReplyDelta):
                yield event
                continue
            reply = event.reply
            if reply.generated:
                intro = reply.text.strip().split("\n")[0].strip()
                yield ReplyDelta("\n" + lines)
                event = ReplyDone(Phrased(f"{intro}\n{lines}", True, (), reply.kind, draft=reply.draft), replace=False)
            yield event

    # ------------------------------------------------------------------ the guard

    def _guarded(self, kind: str, messages, check: Callable[[str, bool], GroundingResult], template: str, *,
                 use_adapter: bool, max_new_tokens: int | None,
                 finished: Callable[[str], str | None] | None = None,
                 cancel: threading.Event | None = None) -> Iterator[ReplyEvent]:
        """`finished(text)`: the whole reply once `text` holds it (generation stops there), else None.
        `cancel` set: generation stops at the next token and the template is the reply (not a failed check)."""
        limit = max_new_tokens or self.max_new_tokens or MAX_NEW_TOKENS[kind]
        if self.generator is not None:
            self.warm_up()
        if self.generator is None or self.unavailable:
            why = self.unavailable or "no generator"
            yield ReplyDone(Phrased(template, False, (why,), kind), replace=True)
            return
        text = emitted = ""
        failed: GroundingResult | None = None
        pieces = None
        try:
            options = {"cancel": cancel} if cancel is not None else {}
            pieces = self.generator.stream(messages, max_new_tokens=limit, use_adapter=use_adapter, **options)
            for piece in pieces:
                text += piece
                shown = text.lstrip()
                complete = shown[: len(shown) - len(re.split(r"\s", shown)[-1])]  # words followed by a space
                if not complete.strip():
                    continue
                partial = check(complete, True)
                if not partial.ok:
                    failed = partial
                    break
                whole = finished(complete) if finished is not None else None
                if whole is not None:
                    text = whole  # the reply is whole: what follows is not generated any further
                    break
                end = settled_end(complete, self.hold_words)
                if end > len(emitted):
                    yield ReplyDelta(shown[len(emitted): end])
                    emitted = shown[:end]
        except BotError as exc:
            self.unavailable = exc.message
            log.warning("generator unavailable, replies stay extractive: %s", exc.message)
            yield ReplyDone(Phrased(template, False, (exc.message,), kind), replace=True)
            return
        except Exception as exc:  # a generation error must not cost the customer the answer
            log.exception("generation failed; using the %s template", kind)
            yield ReplyDone(Phrased(template, False, (f"generation failed: {exc}",), kind), replace=True)
            return
        finally:
            if pieces is not None and hasattr(pieces, "close"):
                pieces.close()
        if cancel is not None and cancel.is_set():
            yield ReplyDone(Phrased(template, False, ("cancelled",), kind), replace=True)
            return
        final = text.strip()
        result = failed or (check(final, False) if final else GroundingResult(False, ("empty reply",)))
        self.stats.record(kind, result, draft=final)
        if not result.ok:
            yield ReplyDone(Phrased(template, False, result.problems, kind, draft=final or None), replace=True)
            return
        if len(final) > len(emitted):
            yield ReplyDelta(final[len(emitted):])  # the deltas spell out `final` exactly
        yield ReplyDone(Phrased(final, True, (), kind), replace=False)


def _introduction_check(text: str, request: str, candidates: Sequence[Any], known: Sequence[Any], partial: bool) -> GroundingResult:
    """A suggestion's introduction: check_recommendation's rules, and it must not parrot the request back."""
    result = check_recommendation(text, candidates, known, request=request, partial=True)
    words = re.findall(r"[a-z0-9$]+", text.lower())
    asked = re.findall(r"[a-z0-9$]+", request.lower())
    if not partial and len(asked) >= 3 and " ".join(asked) in " ".join(words):
        return GroundingResult.of([*result.problems, "repeats the request"])
    return result


def _first_line(text: str) -> str | None:
    """A recommendation's introduction is one line: whole at its line break or its closing colon."""
    stripped = text.strip()
    if "\n" in stripped:
        return stripped.split("\n", 1)[0]
    return stripped if stripped.endswith((":", ".", "!")) else None


def _last(events: Iterator[ReplyEvent]) -> Phrased:
    done = None
    for event in events:
        if isinstance(event, ReplyDone):
            done = event
    assert done is not None
    return done.reply


def reply_writer_from_settings(settings, catalog: Sequence[Any] = (), generator=None) -> ReplyWriter:
    """The configured writer: no generator when `generator_enabled` is False (templates only)."""
    from models.generator import generator_from_settings

    if generator is None and getattr(settings, "generator_enabled", True):
        generator = generator_from_settings(settings)
    return ReplyWriter(generator, catalog=catalog, answer_adapter=bool(getattr(settings, "generator_answer_adapter", False)))
