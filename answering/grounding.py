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

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroundingResult:
    ok: bool
    problems: tuple[str, ...] = ()

    @staticmethod
    def of(problems: Iterable[str]) -> "GroundingResult":
        unique = tuple(dict.fromkeys(problems))
        return GroundingResult(not unique, unique)


# ---------------------------------------------------------------------- normalising numbers

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_DURATION_UNITS = {
    "second": "second", "seconds": "second", "sec": "second", "secs": "second",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "day": "day", "days": "day", "night": "day", "nights": "day",
    "week": "week", "weeks": "week", "wk": "week", "wks": "week",
    "month": "month", "months": "month", "mo": "month",
    "year": "year", "years": "year", "yr": "year", "yrs": "year",
}
_PERCENT_UNITS = {"%": "percent", "percent": "percent", "per cent": "percent", "pct": "percent"}
_MONEY_WORDS = {"dollar", "dollars", "usd", "eur", "euro", "euros", "gbp", "pound", "pounds", "bucks", "cents"}
_QUALIFIERS = r"(?:business|working|calendar|full|whole|more|additional|extra|consecutive)"
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_WORD_NUMBER = re.compile(
    rf"\b(?:(?:{_NUMBER_WORD})(?:[\s-]+(?:and\s+)?(?:{_NUMBER_WORD}))*)\b", re.I
)
_UNIT_WORDS = "|".join(sorted(_DURATION_UNITS, key=len, reverse=True))
_ARTICLE_DURATION = re.compile(rf"\b(?:a|an|one|single)\s+((?:{_QUALIFIERS}\s+)?(?:{_UNIT_WORDS}))\b", re.I)

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
WEEKDAYS = {
    "monday": "monday", "mondays": "monday", "tuesday": "tuesday", "tuesdays": "tuesday", "wednesday": "wednesday",
    "wednesdays": "wednesday", "thursday": "thursday", "thursdays": "thursday", "friday": "friday", "fridays": "friday",
    "saturday": "saturday", "saturdays": "saturday", "sunday": "sunday", "sundays": "sunday",
    "weekend": "weekend", "weekends": "weekend", "weekday": "weekday", "weekdays": "weekday",
}


def _words_to_number(phrase: str) -> int | None:
    total = current = 0
    seen = False
    for word in re.split(r"[\s-]+", phrase.lower()):
        if word == "and" or not word:
            continue
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            scale = _SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def normalise_numbers(text: str) -> str:
    """Number words as digits ("thirty-one" → "31"); "a week" → "1 week". Only "one" standing before a
    unit is a number: "one of our agents" is not one of anything."""
    def replace(match: re.Match) -> str:
        phrase = match.group(0)
        if phrase.lower() == "one":
            return phrase  # only "one <unit>" counts, and _ARTICLE_DURATION has taken those
        value = _words_to_number(phrase)
        return phrase if value is None else str(value)

    text = _WORD_NUMBER.sub(replace, text)
    return _ARTICLE_DURATION.sub(lambda m: f"1 {m.group(1)}", text)


def _canonical(number: str) -> str:
    value = float(number.replace(",", ""))
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class Quantity:
    value: str  # canonical: "30", "8.99"
    unit: str | None  # "day", "week", ..., "percent", "money", or None
    text: str  # as written

    def __str__(self) -> str:
        return self.text


_SKU = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+\b")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+\b", re.I)
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_QUANTITY = re.compile(
    rf"(?P<cur>[$€£]|\b(?:usd|eur|gbp)\s?)?(?P<num>{_NUM})(?:st|nd|rd|th)?"
    rf"(?P<more>(?:\s*(?:-|–|to|or)\s*[$€£]?{_NUM})*)"
    rf"(?P<unit>\s*(?:%|per\s?cent\b|pct\b)|\s*-?\s*(?:{_QUALIFIERS}\s+)?(?:{_UNIT_WORDS})\b|\s*(?:{'|'.join(_MONEY_WORDS)})\b)?",
    re.I,
)


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` (number words included) with its unit when one follows it."""
    text = _URL.sub(" ", _SKU.sub(" ", text))
    text = normalise_numbers(text)
    found: list[Quantity] = []
    for match in _QUANTITY.finditer(text):
        if match.start() > 0 and (text[match.start() - 1].isalpha() or text[match.start() - 1] == "_"):
            continue  # inside a word such as "mp3" or "x200": a model name, checked as a name
        raw_unit = (match.group("unit") or "").strip().lower().lstrip("-").strip()
        unit: str | None = None
        if raw_unit:
            last = raw_unit.split()[-1]
            if raw_unit.startswith("%") or last in ("percent", "cent", "pct") or raw_unit.replace(" ", "") == "percent":
                unit = "percent"
            elif last in _DURATION_UNITS:
                unit = _DURATION_UNITS[last]
            elif last in _MONEY_WORDS:
                unit = "money"
        numbers = [(match.group("num"), bool(match.group("cur")))]
        numbers += [(m.group(2), bool(m.group(1))) for m in re.finditer(rf"([$€£])?({_NUM})", match.group("more") or "")]
        for i, (number, currency) in enumerate(numbers):
            if currency or (i == 0 and match.group("cur")):
                own = "money"
            elif unit not in (None, "money") or i == len(numbers) - 1:
                own = unit  # "5-7 days", "10-20%" share their unit; "5 or 6 dollars": the last is money
            else:
                own = None
            found.append(Quantity(_canonical(number), own, match.group(0).strip()))
    return found


def _dates(text: str) -> set[str]:
    """Month and weekday names ("may" only next to a number: it is mostly a verb)."""
    words = re.findall(r"[a-z]+|\d+", text.lower())
    out: set[str] = set()
    for i, word in enumerate(words):
        if word in WEEKDAYS:
            out.add(WEEKDAYS[word])
        elif word in MONTHS and len(word) > 2:
            near_number = (i > 0 and words[i - 1].isdigit()) or (i + 1 < len(words) and words[i + 1].isdigit())
            if word == "may" and not near_number:
                continue
            if word in ("mar", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "feb", "apr", "sept") and not near_number:
                continue
            out.add(f"month {MONTHS[word]}")
    return out


# ---------------------------------------------------------------------- names

_COMMON_CAPITALISED = {
    "i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "sku", "skus", "usd", "faq", "hi", "hello", "hey", "thanks",
    "thank", "yes", "no", "sure", "please", "dear", "sorry", "great",
}
_WORD_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&.+-]*[A-Za-z0-9+]|[A-Za-z0-9]")


def _name_runs(text: str) -> list[tuple[str, bool]]:
    """(run, starts its sentence) for every run of capitalised words or model numbers."""
    text = _URL.sub(" ", _SKU.sub(" . ", text))
    runs: list[tuple[str, bool]] = []
    current: list[str] = []
    current_initial = False
    sentence_start = True
    position = 0

    def close() -> None:
        words = list(current)
        while words and not any(c.isalpha() for c in words[-1]):
            words.pop()  # a trailing number is a quantity ("Laptop 2"), checked with the numbers
        if words and not (len(words) == 1 and words[0].lower() in _COMMON_CAPITALISED):
            runs.append((" ".join(words), current_initial))
        current.clear()

    for match in _WORD_TOKEN.finditer(text):
        gap = text[position: match.start()]
        position = match.end()
        if re.search(r"[.!?:;\n•]|(?:^|\s)[-*–—]\s", gap):
            close()
            sentence_start = True
        elif gap.strip() and gap.strip() not in ("&", "'"):
            close()  # a comma, a bracket, a dash: the run ends, the sentence goes on
        word = match.group(0).rstrip(".")
        capital = word[0].isupper() and word.lower() not in ("i", "i'm", "i'll", "i've", "i'd")
        model_number = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
        if capital or model_number or (current and word.isdigit()):
            if not current:
                current_initial = sentence_start
            current.append(word)
        else:
            close()
        sentence_start = False
    close()
    return runs


def names(text: str) -> list[str]:
    """Runs of capitalised words or model numbers ("Corvid Go 14 Laptop", "Canada"); a sentence's
    first word alone ("Sure", "Unfortunately") is not a name."""
    return [run for run, initial in _name_runs(text) if not (initial and " " not in run and not any(c.isdigit() for c in run))]


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
    for run, initial in _name_runs(reply):
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
    for sku in _SKU.findall(reply):
        if (known is not None and sku.upper() not in known) or (known is None and sku not in ground):
            problems.append(f"SKU not among the products: {sku}")
    for link in _URL.findall(reply):
        if link.rstrip(".,)") not in ground:
            problems.append(f"link or address not in the passage: {link}")
    missing_dates = _dates(reply) - _dates(ground)
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
    problems = _common_problems(reply, ground, None if not skus else [*skus, *_SKU.findall(passage)])
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
        if len(in_line) == 1 and prices - {_canonical(f"{in_line[0].price}")}:
            wrong = sorted(prices - {_canonical(f"{in_line[0].price}")})
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
    problems += [f"date in a fallback reply: {d}" for d in sorted(_dates(reply))]
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

