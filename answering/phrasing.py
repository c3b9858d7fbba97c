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

from core.errors import BotError
from answering.grounding import (
    answer_in,
    GroundingResult,
    GroundingStats,
    check_fallback,
    check_grounded,
    check_recommendation,
    prompt_attack,
    REFUSALS,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------- prompts (shared with training)

SUPPORT_SYSTEM = "You are a friendly customer-support assistant for an online store."
ANSWER_SYSTEM = (
    "You are a friendly customer-support assistant for an online store. Answer the customer's question in one short "
    "sentence, using the fact given. Keep every number, price and time exactly as written in the fact."
)
# Worked examples shown before every answer prompt: they sit in the cached head of the prompt, so they
# cost no latency, and they show a 135M model what "phrase the fact" means.
ANSWER_EXAMPLES = (
    ("How long does delivery take?", "Standard delivery takes 3-5 business days within the US, and Express takes 2 days.",
     "3-5 business days", "Standard delivery takes 3-5 business days within the US."),
    ("Can I pay with PayPal?", "We accept Visa, Mastercard, PayPal and gift cards.", "PayPal",
     "Yes! We accept PayPal, as well as Visa, Mastercard and gift cards."),
)
FALLBACK_SYSTEM = (
    "You are a friendly customer-support assistant for an online store. The store's documents do not answer the "
    "customer's message. Say so honestly, do not state any policy, number, price or time, and offer to connect "
    "the customer with a member of the support team."
)
RECOMMEND_SYSTEM = (
    "You are a friendly shopping assistant for an online store. Write one short sentence that introduces the products "
    "listed for the customer's request. Do not list them and do not name any other product or price."
)

FALLBACK_TEMPLATE = (
    "I'm sorry, I couldn't find that in our store's information, and I don't want to guess. "
    "Would you like me to connect you with a member of our support team?"
)

MAX_NEW_TOKENS = {"answer": 64, "fallback": 64, "recommendation": 40}
CONTEXT_CHARS = 200  # passage text around the answer shown to the model: less to mix up, and a faster first token
# The lag of a streamed reply: a settled word is followed by this many complete words.
HOLD_WORDS = 2


def answer_messages(question: str, answer: str, context: str, examples=ANSWER_EXAMPLES) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": ANSWER_SYSTEM}]
    for q, fact, a, reply in examples:
        messages += [{"role": "user", "content": f"Question: {q}\nFact: {fact}\nAnswer: {a}"}, {"role": "assistant", "content": reply}]
    messages.append({"role": "user", "content": f"Question: {question.strip()}\nFact: {context.strip()}\nAnswer: {answer.strip()}"})
    return messages


def support_messages(message: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SUPPORT_SYSTEM}, {"role": "user", "content": message.strip()}]


def fallback_messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": FALLBACK_SYSTEM}, {"role": "user", "content": question.strip()}]


def product_line(product: Any) -> str:
    from knowledge_base.catalog import money

    return f"- {product.title} (SKU {product.sku}) — {money(product.price, product.currency)}"


def recommendation_messages(request: str, products: Sequence[Any]) -> list[dict[str, str]]:
    lines = "\n".join(product_line(p) for p in products)
    return [
        {"role": "system", "content": RECOMMEND_SYSTEM},
        {"role": "user", "content": f"Request: {request.strip()}\nProducts:\n{lines}"},
    ]


# ---------------------------------------------------------------------- templates

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if text[start: match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _answer_span(answer: str, passage: str, start: int | None) -> tuple[int, int] | None:
    if start is not None and passage[start: start + len(answer)] == answer:
        return start, start + len(answer)
    found = passage.lower().find(answer.strip().lower())
    return (found, found + len(answer.strip())) if found >= 0 and answer.strip() else None


def answer_template(answer: str, passage: str, start: int | None = None) -> str:
    """The extractive reply: the passage's sentence(s) holding the answer (the answer itself if not found)."""
    span = _answer_span(answer, passage, start)
    if span is None:
        return answer.strip()
    chosen = [(s, e) for s, e in sentence_spans(passage) if s < span[1] and e > span[0]]
    if not chosen:
        return answer.strip()
    return " ".join(passage[chosen[0][0]: chosen[-1][1]].split())


def answer_context(answer: str, passage: str, start: int | None = None, max_chars: int = CONTEXT_CHARS) -> str:
    """The answer's sentence and as many neighbouring sentences as fit in `max_chars`."""
    span = _answer_span(answer, passage, start)
    spans = sentence_spans(passage)
    if span is None or not spans:
        return " ".join(passage[:max_chars].split())
    index = next((i for i, (s, e) in enumerate(spans) if s < span[1] and e > span[0]), 0)
    last = next((i for i, (s, e) in enumerate(spans) if e >= span[1]), index)
    first = index
    while True:
        grown = False
        for candidate in (last + 1, first - 1):
            if 0 <= candidate < len(spans):
                lo, hi = min(first, candidate), max(last, candidate)
                if spans[hi][1] - spans[lo][0] <= max_chars:
                    first, last, grown = lo, hi, True
        if not grown:
            break
    return " ".join(passage[spans[first][0]: spans[last][1]].split())


def recommendation_template(products: Any) -> str:
    """knowledge_base.catalog.describe for a Recommendations; for a list of products, the same list of lines."""
    from knowledge_base.catalog import Recommendations, describe

    if isinstance(products, Recommendations):
        return describe(products)
    if not products:
        return "I couldn't find any products that match."
    return "\n".join(["Here are some options from our catalog that are in stock:", *(product_line(p) for p in products)])


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
