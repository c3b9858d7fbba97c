"""Checks a generated reply must pass before a customer sees it.

- `check_grounded`: a phrased answer contains the extracted answer, and every number, price,
  percentage, duration, date, weekday, product name and SKU in it is in the passage it came from
  ("thirty days" and "30 days", "$8.99" and "8.99 USD" are the same; "30 weeks" is not "30 days").
- `check_recommendation`: every SKU and product name is one of the candidates, every price is the
  price of the product it is written next to.
- `check_fallback`: a "no answer" reply says so, offers a human, and claims nothing: no number, no
  price, no duration, no policy.
- `prompt_attack`: a message that asks for the bot's instructions, other customers' data, or an
  invented discount; `REFUSALS` holds the polite replies.

A reply that fails is replaced by its template (answering/phrasing.py); each writer's `GroundingStats` counts how often.
The checks are conservative on purpose: a false alarm costs a plainer reply, a miss costs trust.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

from answering.facts import SKU_PATTERN, URL_PATTERN, canonical_number, dates, name_runs, names, normalise_numbers, quantities

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroundingResult:
    ok: bool
    problems: tuple[str, ...] = ()

    @staticmethod
    def of(problems: Iterable[str]) -> "GroundingResult":
        unique = tuple(dict.fromkeys(problems))
        return GroundingResult(not unique, unique)


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")))


# ---------------------------------------------------------------------- the checks

MAX_NEW_WORDS = 3  # content words a phrased answer may add to its passage ("Happy to help!")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|can't|won't|don't|doesn't|isn't|aren't|unable|without|n't)\b|n't\b", re.I)
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}|\{[A-Z][^}]*\}|\[[A-Z][A-Za-z ]+\]")


def _quantity_problems(reply: str, ground: str) -> list[str]:
    problems = []
    grounded = quantities(ground)
    values = {q.value for q in grounded}
    with_unit = {(q.value, q.unit) for q in grounded}
    for q in quantities(reply):
        if q.value not in values:
            kind = {"money": "price", "percent": "percentage", None: "number"}.get(q.unit, "duration")
            problems.append(f"{kind} not in the passage: {q.text}")
        elif q.unit not in (None, "money") and (q.value, q.unit) not in with_unit:
            problems.append(f"{q.text} is not what the passage says")
    return problems


def _name_problems(reply: str, allowed_text: str, extra: Iterable[str] = ()) -> list[str]:
    allowed = f" {_plain(allowed_text)} "
    extras = {_plain(e) for e in extra if e}

    def known(name: str) -> bool:
        plain = _plain(name)
        return not plain or plain in extras or f" {plain} " in allowed

    problems = []
    for run, initial in name_runs(reply):
        words = run.split()
        if initial and not any(c.isdigit() for c in words[0]):
            # "Our Corvid Go 14", "Sure": the sentence's first word may be an ordinary word.
            if len(words) == 1 or known(run) or known(" ".join(words[1:])):
                continue
        elif known(run):
            continue
        problems.append(f"name not in the passage: {run}")
    return problems


def _common_problems(reply: str, ground: str, skus: Iterable[str] | None) -> list[str]:
    problems = []
    if _PLACEHOLDER.search(reply):
        problems.append(f"placeholder: {_PLACEHOLDER.search(reply).group(0)}")
    known = {s.upper() for s in skus} if skus is not None else None
    for sku in SKU_PATTERN.findall(reply):
        if (known is not None and sku.upper() not in known) or (known is None and sku not in ground):
            problems.append(f"SKU not among the products: {sku}")
    for link in URL_PATTERN.findall(reply):
        if link.rstrip(".,)") not in ground:
            problems.append(f"link or address not in the passage: {link}")
    missing_dates = dates(reply) - dates(ground)
    problems += [f"date not in the passage: {d}" for d in sorted(missing_dates)]
    return problems


def check_grounded(
    reply: str,
    answer: str,
    passage: str,
    products: Sequence[Any] = (),
    *,
    partial: bool = False,
    allowed_names: Iterable[str] = (),
    question: str = "",
    max_new_words: int | None = MAX_NEW_WORDS,
) -> GroundingResult:
    """Does `reply` state `answer`, and nothing the passage (or the given products) does not say?

    `products`: Product-like objects (.sku, .title) or titles the reply may also name. `partial`: the
    reply is still being generated: the answer may not be in it yet. `max_new_words`: how many content
    words neither the passage nor the question uses the reply may bring ("Happy to help!" is two).
    """
    titles = [getattr(p, "title", p) for p in products]
    skus = [p.sku for p in products if hasattr(p, "sku")]
    ground = "\n".join([passage, *titles])
    problems = _common_problems(reply, ground, None if not skus else [*skus, *SKU_PATTERN.findall(passage)])
    problems += _quantity_problems(reply, ground)
    problems += _name_problems(reply, ground, allowed_names)
    if not partial and answer.strip() and not answer_in(answer, reply):
        problems.append(f"answer missing: {answer.strip()}")
    if _NEGATION.search(reply) and not _NEGATION.search(passage):
        problems.append("negation the passage does not make")
    if max_new_words is not None:
        novel = new_words(reply, " ".join([ground, question, answer]))
        if len(novel) > max_new_words:
            problems.append(f"words the passage does not use: {', '.join(novel)}")
    return GroundingResult.of(problems)


_FREE_WORDS = set(
    "sure happy help glad thanks thank question great course please also just that this these those with your have will would "
    "could should there their they them what when where which while about from into only then than very more most some such "
    "each both here it's you're we're that's they're can't don't doesn't isn't it'll you'll we'll you've we've i'm i'll "
    "let know need like want able make absolutely certainly definitely indeed good news yes okay answer asked asking "
    "does been being were other another well really anything something hope helps".split()
)


def new_words(reply: str, allowed_text: str) -> list[str]:
    """Content words of `reply` (4+ letters) that `allowed_text` does not use, compared by their first five letters."""
    allowed = {w[:5] for w in re.findall(r"[a-z][a-z'’-]*", allowed_text.lower())}
    out = []
    for word in re.findall(r"[a-z][a-z'’-]*", reply.lower()):
        word = word.strip("'’-")
        if len(word) >= 4 and word not in _FREE_WORDS and word[:5] not in allowed and word not in out:
            out.append(word)
    return out


_ANSWER_STOPWORDS = {"the", "a", "an", "of", "to", "in", "on", "at", "for", "from", "within", "by", "and", "or", "your", "our"}


def answer_in(answer: str, reply: str) -> bool:
    """The extracted answer is in the reply: as a phrase, or every content word of it (numbers normalised)."""
    a = _plain(normalise_numbers(answer))
    r = _plain(normalise_numbers(reply))
    if not a:
        return True
    if f" {a} " in f" {r} ":
        return True
    reply_words = set(r.split())
    content = [w for w in a.split() if w not in _ANSWER_STOPWORDS] or a.split()
    return all(w in reply_words or (w.endswith("s") and w[:-1] in reply_words) or f"{w}s" in reply_words for w in content)


def check_recommendation(
    reply: str,
    candidates: Sequence[Any],
    catalog: Sequence[Any] = (),
    *,
    request: str = "",
    partial: bool = False,
) -> GroundingResult:
    """Only candidates are named (by SKU or title), and each price is the price of its product's line.
    Numbers of the request ("under $800") may be echoed; names from it may not."""
    problems = _common_problems(reply, "", [p.sku for p in candidates])
    ground = "\n".join(f"{p.title} {p.sku} {p.category} {p.price:.2f} {p.currency}" for p in candidates)
    problems += _quantity_problems(reply, ground + "\n" + request)
    problems += _name_problems(reply, ground)
    plain_reply = f" {_plain(reply)} "
    candidate_skus = {p.sku for p in candidates}
    for other in catalog:
        if other.sku not in candidate_skus and f" {_plain(other.title)} " in plain_reply:
            problems.append(f"product not among the candidates: {other.title}")
    mentioned = 0
    budget = {q.value for q in quantities(request)}
    for line in re.split(r"\n|(?<=[.!?])\s+", reply):
        plain_line = f" {_plain(line)} "
        in_line = [p for p in candidates if p.sku in line or f" {_plain(p.title)} " in plain_line]
        mentioned += bool(in_line)
        prices = {q.value for q in quantities(line) if q.unit == "money"} - budget
        if len(in_line) == 1 and prices - {canonical_number(f"{in_line[0].price}")}:
            wrong = sorted(prices - {canonical_number(f"{in_line[0].price}")})
            problems.append(f"price of {in_line[0].sku} is {in_line[0].price:.2f}, not {', '.join(wrong)}")
    problems += [p for p in _claim_problems(reply)]
    if not partial and mentioned == 0 and candidates:
        problems.append("no candidate product named")
    return GroundingResult.of(problems)


# ---------------------------------------------------------------------- fallback replies

_CLAIMS = [
    re.compile(p, re.I)
    for p in (
        r"\b(?:you|we)\s+(?:can|could|may|will|'ll|are able to|are eligible to|are entitled to|qualify to)\s+(?:\w+\s+){0,2}?"
        r"(?:return|refund|exchange|replace|reimburse|credit|cancel|receive a|get a|claim)\b",
        r"\b(?:eligible|entitled|qualif(?:y|ies)) for\b",
        r"\bwe\s+(?:offer|provide|ship|accept|charge|deliver|guarantee|refund|allow|cover|honou?r|match|waive)\b",
        r"\bfree\s+(?:shipping|delivery|returns?|exchanges?|of charge)\b|\b(?:is|are|it's)\s+free\b|\bno\s+(?:extra\s+)?(?:charge|cost|fee)\b|\bat no cost\b",
        r"\b(?:fully|partially)?\s*refundable\b|\bguarantee[ds]?\b|\bwarranty\s+(?:covers|lasts|is)\b",
        r"\b(?:discount|coupon|promo(?:tion(?:al)?)?\s*code|voucher|store credit|gift card)s?\b\s+(?:of|for|is|code)\b",
        r"\bour\s+(?:\w+\s+)?(?:policy|policies)\s+(?:is|are|says|states|allows|covers|lets)\b",
        r"\b(?:within|in|after|before)\s+(?:a|\d+)\s+(?:business\s+)?(?:days?|weeks?|months?|years?|hours?)\b",
    )
]
_ADMITS = re.compile(
    r"\b(?:don't|do not|didn't|did not|couldn't|could not|can't|cannot|wasn't able|was not able|unable|not sure|"
    r"no information|not find|don't have|do not have|doesn't (?:say|cover|mention)|not (?:in|covered))\b",
    re.I,
)
_OFFERS_HUMAN = re.compile(
    r"\b(?:human|person|people|agent|agents|colleague|colleagues|team|representative|staff|someone|specialist|member)\b", re.I
)


def _claim_problems(reply: str) -> list[str]:
    return [f"policy claim: {m.group(0).strip()}" for pattern in _CLAIMS for m in [pattern.search(reply)] if m]


def check_fallback(reply: str, *, partial: bool = False) -> GroundingResult:
    """A "no answer" reply: admits it, offers a human, states no number, price, duration or policy."""
    problems = _common_problems(reply, "", None)
    problems += [f"number in a fallback reply: {q.text}" for q in quantities(reply)]
    problems += [f"date in a fallback reply: {d}" for d in sorted(dates(reply))]
    problems += _claim_problems(reply)
    problems += [f"name in a fallback reply: {n}" for n in names(reply)]
    if not partial:
        if not _ADMITS.search(reply):
            problems.append("does not say that the answer was not found")
        if not _OFFERS_HUMAN.search(reply):
            problems.append("does not offer a human")
    return GroundingResult.of(problems)


# ---------------------------------------------------------------------- prompt attacks

AttackKind = Literal["instructions", "customer_data", "discount"]

_ATTACKS: dict[str, list[re.Pattern]] = {
    "instructions": [
        re.compile(p, re.I)
        for p in (
            r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+)*(?:previous|prior|above|earlier|"
            r"preceding|original|system|safety)?\s*(?:instructions?|prompts?|rules|guidelines|directions|programming)\b",
            r"\b(?:system|initial|original|hidden|secret|developer)\s+(?:prompt|instructions?|message)\b",
            r"\b(?:reveal|show|print|repeat|tell|give|share|display|output|leak|dump|what are|what's|what were)\b.{0,40}"
            r"\byour\s+(?:instructions?|prompt|configuration|directives?|programming|system message)\b",
            r"\bwhat (?:were|are|have) you (?:been )?(?:told|instructed|programmed)\b",
            r"\b(?:developer|dan|god|admin|debug|jailbreak)\s+mode\b|\bjailbreak\b",
            r"\byou are (?:now|no longer)\b|\bpretend (?:to be|you are|you're)\b|\bact as (?:an? )?(?:admin|developer|system|different|unrestricted)\b",
        )
    ],
    "customer_data": [
        re.compile(p, re.I)
        for p in (
            r"\b(?:other|another|all|every|some(?:one|body) else'?s?|different)\s+(?:customers?|users?|people|shoppers?|buyers?|accounts?)(?:'s?|’s?)?\b"
            r".{0,50}\b(?:data|details?|info(?:rmation)?|address(?:es)?|emails?|e-mails?|phone|numbers?|orders?|names?|card|payments?|purchases?|history|records?)\b",
            r"\b(?:list|show|give|send|export|dump|tell)\b.{0,30}\b(?:all|every|other)\b.{0,20}\b(?:customers?|users?|orders|accounts?|emails?|addresses)\b",
            r"\b(?:customer|user)\s+(?:database|list|records|table|db)\b",
            r"\b(?:data|details?|info(?:rmation)?|address(?:es)?|emails?|phone(?: numbers?)?|orders?|names?|card|payments?|purchases?|history)\b"
            r"\s+(?:of|for|from|belonging to)\s+(?:an?other|other|a different|some other|all(?: the)?|every)\s+(?:customers?|users?|persons?|people|shoppers?|buyers?)\b",
            r"\b(?:some(?:one|body) else|a stranger|my (?:neighbou?r|ex)|other people)(?:'s|’s)?\b.{0,30}\b(?:orders?|address|email|phone|account|card|purchases?)\b",
            r"\bwho (?:else )?(?:bought|ordered|purchased)\b",
            r"\b(?:order|account)s?\b.{0,20}\b(?:that|which)\s+(?:isn't|is not|aren't|are not)\s+mine\b",
        )
    ],
    "discount": [
        re.compile(p, re.I)
        for p in (
            r"\b(?:make up|invent|generate|create|fabricate|come up with|give me|send me|issue|apply)\b.{0,30}\b(?:discount|coupon|promo(?:tional)?|voucher|gift card|store credit|free)\b.{0,15}\b(?:codes?|for me|now)?",
            r"\b(?:say|tell me|confirm|promise|guarantee|agree|state|write)\b.{0,30}\b(?:i(?:'ll| will)? get|i'm getting|i am getting|you(?:'ll| will)? give|there is)\b.{0,30}\b(?:discount|refund|off|free|coupon|credit)\b",
            r"\b\d{2,3}\s*(?:%|percent)\s*(?:off|discount)\b.{0,40}\b(?:now|please|for me|right now|give|apply)\b",
            r"\b(?:apply|give me|i want|i demand)\b.{0,15}\b\d{1,3}\s*(?:%|percent)\b",
            r"\b(?:make|let) (?:it|everything|my order) free\b",
        )
    ],
}
# "Can you give me a discount code?" is a fair question for the reader; these make it a demand to invent one.
_DISCOUNT_DEMAND = re.compile(
    r"\b(?:make up|invent|fabricate|generate|create|come up with|just give|say|tell me|confirm|promise|guarantee|apply|\d{1,3}\s*(?:%|percent)|free)\b",
    re.I,
)

REFUSALS: dict[str, str] = {
    "instructions": "Sorry, I can't share how I'm set up. I'm happy to help with questions about your order, "
    "our products or our store's policies, though.",
    "customer_data": "Sorry, I can't share information about other customers or their orders: everyone's details "
    "stay private. I can help with your own order if you share its order number.",
    "discount": "Sorry, I can't create discounts or promise prices that aren't in our store's published offers. "
    "I can tell you about current offers, or connect you with a member of our team.",
}


def prompt_attack(text: str) -> AttackKind | None:
    """Which kind of attack `text` is, if any: asking for instructions, others' data, or an invented discount."""
    for kind, patterns in _ATTACKS.items():
        for pattern in patterns:
            if pattern.search(text):
                if kind == "discount" and not _DISCOUNT_DEMAND.search(text):
                    continue
                return kind  # type: ignore[return-value]
    return None


def is_prompt_attack(text: str) -> bool:
    return prompt_attack(text) is not None


def refusal(text_or_kind: str) -> str | None:
    """The polite refusal for a message (or an attack kind); None when the message is not an attack."""
    kind = text_or_kind if text_or_kind in REFUSALS else prompt_attack(text_or_kind)
    return REFUSALS[kind] if kind else None


# ---------------------------------------------------------------------- counting


class GroundingStats:
    """How many generated replies were checked and how many fell back to a template, by kind. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, int] = {}
        self._failures: dict[str, int] = {}

    def record(self, kind: str, result: GroundingResult, *, draft: str = "") -> None:
        with self._lock:
            self._checks[kind] = self._checks.get(kind, 0) + 1
            if not result.ok:
                self._failures[kind] = self._failures.get(kind, 0) + 1
            checks, failures = self._checks[kind], self._failures.get(kind, 0)
        if not result.ok:
            log.info("generated %s reply fell back to its template (%d of %d so far): %s; draft: %r",
                     kind, failures, checks, "; ".join(result.problems), draft[:200])

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                kind: {"checks": n, "fallbacks": self._failures.get(kind, 0), "fallback_rate": round(self._failures.get(kind, 0) / n, 4)}
                for kind, n in self._checks.items()
            }

    def reset(self) -> None:
        with self._lock:
            self._checks.clear()
            self._failures.clear()
