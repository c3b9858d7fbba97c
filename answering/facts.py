"""The facts a reply states, read out of text: numbers (words and digits alike), quantities with their
units, dates, weekdays, product names and SKUs. The grounding checks (answering.grounding) compare a
reply's facts with its passage's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def canonical_number(number: str) -> str:
    value = float(number.replace(",", ""))
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class Quantity:
    value: str  # canonical: "30", "8.99"
    unit: str | None  # "day", "week", ..., "percent", "money", or None
    text: str  # as written

    def __str__(self) -> str:
        return self.text


SKU_PATTERN = re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+\b")
URL_PATTERN = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+\b", re.I)
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"

_QUANTITY = re.compile(
    rf"(?P<cur>[$€£]|\b(?:usd|eur|gbp)\s?)?(?P<num>{_NUM})(?:st|nd|rd|th)?"
    rf"(?P<more>(?:\s*(?:-|–|to|or)\s*[$€£]?{_NUM})*)"
    rf"(?P<unit>\s*(?:%|per\s?cent\b|pct\b)|\s*-?\s*(?:{_QUALIFIERS}\s+)?(?:{_UNIT_WORDS})\b|\s*(?:{'|'.join(_MONEY_WORDS)})\b)?",
    re.I,
)


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` (number words included) with its unit when one follows it."""
    text = URL_PATTERN.sub(" ", SKU_PATTERN.sub(" ", text))
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
            found.append(Quantity(canonical_number(number), own, match.group(0).strip()))
    return found


def dates(text: str) -> set[str]:
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


_COMMON_CAPITALISED = {
    "i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "sku", "skus", "usd", "faq", "hi", "hello", "hey", "thanks",
    "thank", "yes", "no", "sure", "please", "dear", "sorry", "great",
}

_WORD_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&.+-]*[A-Za-z0-9+]|[A-Za-z0-9]")


def name_runs(text: str) -> list[tuple[str, bool]]:
    """(run, starts its sentence) for every run of capitalised words or model numbers."""
    text = URL_PATTERN.sub(" ", SKU_PATTERN.sub(" . ", text))
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
    return [run for run, initial in name_runs(text) if not (initial and " " not in run and not any(c.isdigit() for c in run))]
