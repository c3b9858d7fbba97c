"""Questions about one named product, answered from its catalog fields.

"How much is the Corvid Go 14?", "is the basecamp 3 tent in stock", "how heavy is the AirLite pad":
the customer names a product and asks for a field of it. The answer comes from that product's row
(price, stock, attributes) and cites it, so it can never be a neighbouring product's description.
A name that fits several variants (sizes, colours, memory) answers for each variant the question
leaves open. Anything else, or a product named without a field asked, goes to the answerer behind.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from core.types import Passage, Reply, Source
from knowledge_base.catalog import mentions_store_rules, money, product_from_passage
from knowledge_base.text import detect_language, split_sentences

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
# Words of a question that never name a product.
_QUESTION_WORDS = {
    "how", "much", "is", "the", "a", "an", "what", "whats", "does", "do", "it", "its", "in", "of", "for", "on", "to", "and",
    "you", "have", "has", "can", "i", "me", "my", "your", "there", "any", "cost", "costs", "price", "stock", "that", "this",
    "with", "are", "be", "get", "buy", "one", "ones", "hi", "hey", "please", "pls", "still", "many", "left", "long", "big",
}
PRICE = re.compile(r"\b(?:how much|price[sd]?|pricing|cost(?:s|ing)?|expensive|cheap(?:er)?|pay for)\b", re.I)
STOCK = re.compile(r"\b(?:in stock|stock|available|availability|sold out|any left|have (?:any|it|them|one)|how many (?:are )?left|ship (?:now|today|right away))\b", re.I)
# Question words for attributes whose key does not say them ("how heavy" asks weight_kg).
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    "weight": ("weigh", "weighs", "heavy", "light", "weight"),
    "battery": ("battery", "charge", "last", "lasts", "runtime"),
    "screen": ("screen", "display"),
    "ram": ("ram", "memory"),
    "storage": ("storage", "ssd", "space", "gb"),
    "color": ("color", "colour", "colors", "colours"),
    "colors": ("color", "colour", "colors", "colours"),
    "material": ("material", "made", "fabric"),
    "sizes": ("size", "sizes"),
    "capacity": ("capacity", "hold", "holds", "fit", "fits", "big"),
    "warranty": ("warranty", "guarantee"),
    "waterproof": ("waterproof", "water"),
    "water": ("waterproof", "water"),
    "temp": ("temperature", "temp", "warm", "cold", "degrees"),
    "pages": ("pages", "long"),
    "author": ("author", "wrote", "written"),
    "volume": ("volume", "liters", "litres", "big"),
    "camera": ("camera", "megapixel", "mp"),
}
# A name word in at most this many products names them ("basecamp"); "cast iron" names nothing.
RARE_PRODUCTS = 3
# Words of a title that name nothing ("Salt and Cedar", "Strong at Any Age").
_NAME_STOPWORDS = {"and", "the", "of", "for", "with", "by", "a", "an", "in", "to", "at", "on", "your", "own", "any", "my", "our"}
# Row flags for the store's own use, not facts a customer asks by those words ("price" is not "was_price").
_NOT_ASKED = {"was_price", "student_pick", "hygiene_item", "final_sale", "returnable", "brand", "type"}
_UNIT_WORDS = {"gb", "kg", "g", "in", "mm", "cm", "l", "qt", "oz", "mah", "wh", "w", "f", "hours", "days", "years", "mp", "lb",
               "pair", "gsm", "ml", "db", "pa", "sqft", "min", "rpm", "mph", "percent", "a", "bar", "ohm", "weeks"}


@dataclass(frozen=True, slots=True)
class _Entry:
    passage: Passage
    name_words: tuple[str, ...]  # the product's model name: the title before its first comma
    variant_words: frozenset[str]  # the rest: memory, colour, size
    attributes: dict[str, Any]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("'", ""))


def _attributes_of(passage: Passage) -> dict[str, Any]:
    """The row's attributes as the loader wrote them into the passage ("Attributes: brand: Corvid, ...")."""
    meta = passage.metadata or {}
    if isinstance(meta.get("attributes"), dict):
        return meta["attributes"]
    found = passage.text.rsplit("Attributes: ", 1)
    if len(found) < 2:
        return {}
    pairs = {}
    for item in re.split(r", (?=[a-z][a-z0-9 ]*: )", found[1].rstrip(".")):
        key, _, value = item.partition(": ")
        if value:
            pairs[key.strip().replace(" ", "_")] = value.strip()
    return pairs


class ProductFacts:
    """Finds the product a question names and the field it asks for; None when it is not that kind of question."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self._entries: list[_Entry] = []
        for passage in passages:
            if product_from_passage(passage) is None:
                continue
            title = passage.title_path[-1]
            name, _, variant = title.partition(",")
            # "(Hardcover)", "(2-Pack)" and "by Ruth Okafor" tell versions and authors apart, not products.
            aside = " ".join(re.findall(r"\(([^)]*)\)", name))
            name = re.sub(r"\([^)]*\)", " ", name).split(" by ")[0]
            name_words = tuple(w for w in _words(name) if w not in _NAME_STOPWORDS) or tuple(_words(name))
            self._entries.append(_Entry(passage, name_words, frozenset(_words(variant + " " + aside)), _attributes_of(passage)))
        counts = Counter(w for e in self._entries for w in set(e.name_words))
        total = max(len(self._entries), 1)
        # Rare words name a product ("basecamp"), common ones its kind ("laptop"): weigh by rarity.
        self._weight = {w: math.log(1 + total / n) for w, n in counts.items()}
        self._vocabulary = sorted(counts)

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, question: str) -> Reply | None:
        """The named product's field, or None."""
        return self.field_reply(self.lookup(question))

    def named_product(self, question: str) -> Passage | None:
        """The one product a question names without asking one of its fields ("does the X float?")."""
        return self.product_without_field(self.lookup(question))

    def field_reply(self, found: tuple[list[_Entry], str | None] | None) -> Reply | None:
        return self._reply(*found) if found and found[1] else None

    @staticmethod
    def product_without_field(found: tuple[list[_Entry], str | None] | None) -> Passage | None:
        return found[0][0].passage if found and not found[1] and len({e.name_words for e in found[0]}) == 1 else None

    def lookup(self, question: str) -> tuple[list[_Entry], str | None] | None:
        if not self._entries or detect_language(question) != "en" or mentions_store_rules(question):
            return None  # "what does it cost to return the Basecamp tent?" is a policy question
        words = [w for w in _words(question) if w not in _QUESTION_WORDS or w in self._weight]
        matched = self._named(words)
        if not matched:
            return None
        return matched, self._field(question, words, matched)

    # -------------------------------------------------------------- which product

    def _present(self, word: str, words: set[str]) -> bool:
        if word in words:
            return True
        if len(word) >= 6 and not any(ch.isdigit() for ch in word):  # a typo in a long name word ("corivd", "basecmap")
            return any(len(w) >= 5 and _similar(word, w) for w in words)
        return False

    def _named(self, words: list[str]) -> list[_Entry]:
        asked = set(words) | {a + b for a, b in zip(words, words[1:])}  # "power core" names "powercore"
        # Each name word of the catalog is looked for once (typos are fuzzy-matched), not once per product.
        said = {w for w in self._vocabulary if self._present(w, asked)}
        rare = math.log(1 + len(self._entries) / RARE_PRODUCTS)
        best, best_score = [], 0.0
        for entry in self._entries:
            weights = [self._weight[w] for w in entry.name_words]
            present = [wt for w, wt in zip(entry.name_words, weights) if w in said]
            score = sum(present) / max(sum(weights), 1e-9)
            # The model's own words must all be there (the brand may be left out: "basecamp 3 tent").
            model = _model_words(entry.name_words)
            missing = [w for w in model[1:] if w not in said]
            brand = model[0] in said
            # Without the brand, the model's own words must all be there and one of them a real word
            # ("basecamp 3 tent", not "9" alone); with it, one word may be left out of a long name
            # ("the copperfield cast iron skillet"), never a model number ("Basecamp 2" is not "3").
            named = (not missing and (brand or any(len(w) >= 4 and not w.isdigit() and self._weight[w] >= rare for w in model[1:]))) or (
                brand and len(missing) == 1 and len(model) >= 4 and not any(ch.isdigit() for ch in missing[0]))
            if score + 1e-9 < best_score or not named:
                continue
            if score > best_score + 1e-9:
                best, best_score = [], score
            best.append(entry)
        if not best:
            return []
        if len({e.name_words for e in best}) > 1:
            return []  # two models fit equally ("the Corvid laptop"): the customer must say which
        # Variant words the customer gave ("16gb", "silver") narrow the variants; none given keeps all.
        given = set(words)
        narrowed = [e for e in best if all(w in e.variant_words for w in given & set().union(*(x.variant_words for x in best)))]
        return narrowed or best

    # -------------------------------------------------------------- which field

    def _field(self, question: str, words: list[str], matched: list[_Entry]) -> str | None:
        # A field named outright ("how much resistance") comes before "how much" as a price.
        named = self._attribute(words, matched)
        if named:
            return named
        if PRICE.search(question):
            return "price"
        if STOCK.search(question):
            return "stock"
        return None

    def _attribute(self, words: list[str], matched: list[_Entry]) -> str | None:
        asked = set(words)
        keys = sorted({k for e in matched for k in e.attributes}, key=len, reverse=True)
        for key in keys:
            if key in _NOT_ASKED:
                continue
            parts = [p for p in key.split("_") if p not in _UNIT_WORDS]
            synonyms = {p for part in parts for p in (part, *ATTRIBUTE_WORDS.get(part, ()))}
            if synonyms & asked and not (set(parts) <= set().union(*(e.name_words for e in matched))):
                return "attribute:" + key
        return None

    # -------------------------------------------------------------- the reply

    def _reply(self, matched: list[_Entry], field: str) -> Reply:
        values: dict[str, list[str]] = {}  # each value, and the versions that have it
        for entry in matched:
            product = product_from_passage(entry.passage)
            assert product is not None
            if field == "price":
                value = money(product.price, product.currency)
            elif field == "stock":
                value = "out of stock" if product.stock <= 0 else f"{product.stock} in stock"
            else:
                key = field.split(":", 1)[1]
                if key not in entry.attributes:
                    continue
                value = _attribute(key, entry.attributes[key])
            values.setdefault(value, []).append(entry.passage.title_path[-1])
        if not values:
            return Reply("", kind="not_sure")
        if len(values) == 1:
            (value, titles), = values.items()
            name = titles[0] if len(titles) == 1 else _common_name(titles)
            text = f"{name}: {value}."
            if field.startswith("attribute:"):
                # The description's own sentence about it, when it has one ("It weighs 1.9 kg with stakes").
                said = _describing(matched[0].passage.text, field.split(":", 1)[1], matched[0].attributes)
                text += f" {said}" if said else ""
        else:
            lines = [f"{title}: {value}." for value, titles in values.items() for title in titles]
            text = "\n".join(["It depends on the version:", *lines[:8]] + ([f"(and {len(lines) - 8} more)"] if len(lines) > 8 else []))
        sources = tuple(Source(e.passage.doc_id, e.passage.title, e.passage.text, 1.0, e.passage.title_path) for e in matched[:3])
        return Reply(text, sources=sources, confidence=1.0, kind="answer",
                     metadata={"route": "product_facts", "field": field, "products": [product_from_passage(e.passage).to_wire() for e in matched[:6]]})  # type: ignore[union-attr]


def _similar(a: str, b: str, at_least: float = 0.8) -> bool:
    """difflib's ratio >= at_least; its cheap upper bounds rule most pairs out first."""
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.real_quick_ratio() >= at_least and matcher.quick_ratio() >= at_least and matcher.ratio() >= at_least


def _describing(text: str, key: str, attributes: dict[str, Any]) -> str:
    description = text.split(". ", 1)[-1].rsplit("Attributes: ", 1)[0]
    value = str(attributes.get(key, "")).lower()
    cues = [value] if any(ch.isdigit() for ch in value) else [p for p in key.split("_") if p not in _UNIT_WORDS and len(p) > 2]
    for sentence in split_sentences(description):
        low = sentence.lower().replace(",", "")
        if any(c and (re.search(rf"(?<![\d.]){re.escape(c.rstrip('0').rstrip('.') if '.' in c else c)}(?![\d])", low)) for c in cues):
            return sentence.strip()
    return ""


def _model_words(name: tuple[str, ...]) -> tuple[str, ...]:
    """Brand and model, the words a customer names a product by: up to the first word with a digit
    ("Corvid Go 14", "Voltline PowerCore 10K"), else the first three ("Tidewater Wave Mini")."""
    for i, word in enumerate(name[:4]):
        if any(ch.isdigit() for ch in word):
            return name[: i + 1]
    return name[:3]


def _common_name(titles: list[str]) -> str:
    """"Corvid Go 14 Laptop" for all of its memory and colour versions."""
    return titles[0].split(",")[0].strip()


def _attribute(key: str, value: Any) -> str:
    """"weight_g", 590 -> "weight: 590 g"; "battery_hours", 10 -> "battery: 10 hours"."""
    parts = key.split("_")
    unit = parts[-1] if len(parts) > 1 and parts[-1] in _UNIT_WORDS else ""
    name = " ".join(parts[:-1] if unit else parts)
    unit = {"in": "inches", "f": "°F", "pair": "per pair"}.get(unit, unit)
    return f"{name}: {_value(value)}{' ' + unit if unit else ''}"


def _value(value: Any) -> str:
    if value in ("True", "False"):
        value = value == "True"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


class ProductFactsFirst:
    """An answerer that answers named-product field questions from the catalog and passes the rest on."""

    def __init__(self, inner, facts: ProductFacts, quote=None) -> None:
        self.inner = inner
        self.facts = facts
        # quote(question, passage) -> Reply: the passage's sentences that answer it (ExtractiveAnswerer.quote_passage).
        self.quote = quote

    @property
    def retriever(self):
        return self.inner.retriever

    @property
    def embedder(self):
        return self.inner.embedder

    def warm_up(self) -> None:
        self.inner.warm_up()

    def answer(self, question: str) -> Reply:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[str]) -> list[Reply]:
        found = [self.facts.lookup(q) for q in questions]
        replies: list[Reply | None] = [self.facts.field_reply(f) for f in found]
        if self.quote is not None:
            for i, question in enumerate(questions):
                passage = self.facts.product_without_field(found[i]) if replies[i] is None else None
                if passage is not None:
                    replies[i] = self.quote(question, passage).with_text_metadata({"route": "product_description"})
        rest = [i for i, r in enumerate(replies) if r is None or r.kind != "answer"]
        for i, reply in zip(rest, self.inner.answer_many([questions[i] for i in rest])):
            replies[i] = reply
        return replies  # type: ignore[return-value]
