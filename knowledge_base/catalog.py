"""The product catalog as the bot reads it: products, what a request asks for, and the reply text.

A request ("I need a laptop for school under $800") is read for its constraints: a price limit, a
minimum price, and a category named the way the catalog names it. Every product comes from passage
metadata written by the catalog loader (knowledge_base.loaders), so nothing is invented; when
nothing fits, `describe` says which constraint could not be met.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal

from core.types import Passage

Unmet = Literal["catalog", "category", "price", "stock"]


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    title: str
    category: str
    price: float
    currency: str
    stock: int
    passage_id: int

    def to_wire(self) -> dict[str, Any]:
        return {"sku": self.sku, "title": self.title, "price": self.price, "currency": self.currency, "category": self.category}


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a request asks for. Prices are inclusive: "under $800" accepts $800.00."""

    max_price: float | None = None
    min_price: float | None = None
    categories: tuple[str, ...] = ()  # catalog category names; several means any of them

    @property
    def category(self) -> str | None:
        return self.categories[0] if len(self.categories) == 1 else None

    def accepts_category(self, product: Product) -> bool:
        return not self.categories or product.category in self.categories

    def accepts_price(self, product: Product) -> bool:
        if self.max_price is not None and product.price > self.max_price:
            return False
        if self.min_price is not None and product.price < self.min_price:
            return False
        return True

    def accepts(self, product: Product) -> bool:
        return self.accepts_category(product) and self.accepts_price(product) and product.stock > 0

    def price_phrase(self, currency: str = "USD") -> str:
        """" under $800", " over $100", " between $100 and $300", or ""."""
        low, high = self.min_price, self.max_price
        if low is not None and high is not None:
            return f" between {money(low, currency, cents=False)} and {money(high, currency, cents=False)}"
        if high is not None:
            return f" under {money(high, currency, cents=False)}"
        if low is not None:
            return f" over {money(low, currency, cents=False)}"
        return ""

    def to_wire(self) -> dict[str, Any]:
        return {"max_price": self.max_price, "min_price": self.min_price, "categories": list(self.categories)}


@dataclass(frozen=True, slots=True)
class Recommendations:
    products: tuple[Product, ...]
    constraints: Constraints
    # When `products` is empty: the constraint nothing in the catalog could meet, checked in the order
    # catalog (there are no products at all), category, price, stock.
    unmet: Unmet | None = None
    # With unmet == "price": the lowest and highest price among products of the requested category.
    price_range: tuple[float, float] | None = None
    currency: str = "USD"


# ---------------------------------------------------------------- reading the request

# An amount of money: "$800", "800", "1,299.99", "1.5k", "50 dollars", "USD 60".
_AMOUNT = r"(?:(?:us)?\$\s*|usd\s*)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*k\b)?(?:\s*(?:dollars?|bucks|usd)\b)?"
_MAX_BEFORE = (
    r"under|below|less than|cheaper than|lower than|no more than|not more than|nothing (?:over|above|more than|pricier than)|"
    r"not (?:over|above)|no (?:higher|pricier) than|at most|max(?:imum)?|up to|within|"
    r"budget(?:\s+(?:of|is))?(?:\s+(?:around|about|roughly|approximately))?|spend(?:ing)?(?:\s+(?:up to|at most))?"
)
_MIN_BEFORE = r"over|above|more than|greater than|at least|min(?:imum)?|starting (?:at|from)|no less than|not less than"
_RANGE = re.compile(
    rf"\bbetween\s+(?P<a>{_AMOUNT})\s+(?:and|to|-)\s+(?P<b>{_AMOUNT})"
    rf"|\bfrom\s+(?P<c>{_AMOUNT})\s+(?:to|-|–)\s+(?P<d>{_AMOUNT})"
    rf"|(?P<e>{_AMOUNT})\s*(?:-|–|to)\s*(?P<f>{_AMOUNT})",
    re.I,
)
_MAX = re.compile(
    rf"(?:\b(?:{_MAX_BEFORE})\b|<=?|≤)\s*:?\s*(?P<a>{_AMOUNT})"
    rf"|(?P<b>{_AMOUNT})\s*(?:or\s+(?:less|under|below|cheaper|lower)\b|max(?:imum)?\b|tops\b|budget\b)",
    re.I,
)
_MIN = re.compile(
    rf"(?:\b(?:{_MIN_BEFORE})\b|>=?|≥)\s*:?\s*(?P<a>{_AMOUNT})"
    rf"|(?P<b>{_AMOUNT})\s*(?:\+|or\s+(?:more|over|above|higher)\b|and\s+(?:up|above|over)\b)",
    re.I,
)
_CURRENCY = re.compile(r"\$|\busd\b|dollars?\b|bucks\b", re.I)
# Words that may follow a bare number ("under 800 for school") without making it a size or a count
# ("under 2 kg", "more than 8 hours"): after anything else, a number without a currency is not a price.
_AFTER_BARE_AMOUNT = {
    "for", "and", "or", "to", "that", "which", "please", "with", "in", "on", "if", "but", "i", "we", "is",
    "would", "should", "total", "each", "range", "price", "budget", "tops", "max", "maximum", "ish", "pls",
}
_WORD = re.compile(r"[a-z0-9]+")
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
# After a category's word, these leave it the thing asked for ("a laptop for school", "camping gear");
# any other word makes it a modifier of that word ("hiking boots", "laptop bag").
_HEAD_FOLLOWERS = {
    "for", "and", "or", "nor", "under", "below", "over", "above", "between", "with", "without", "that", "which", "who",
    "in", "on", "at", "to", "from", "of", "by", "than", "as", "like", "near", "within", "around", "about", "up",
    "less", "more", "cheaper", "max", "budget", "priced", "costing", "cost", "costs", "please", "pls", "thanks",
    "is", "are", "i", "we", "my", "me", "you", "it", "they", "can", "could", "would", "should", "but", "so", "too",
    "also", "if", "the", "a", "an", "some", "any", "this", "those", "these", "here", "there", "now", "today", "not",
    "no", "only", "just", "really", "very", "similar", "what", "when", "where", "how", "why", "do", "does",
    "gear", "stuff", "thing", "things", "item", "items", "product", "products", "equipment", "option", "options",
    "recommendation", "recommendations", "idea", "ideas", "deal", "deals", "gift", "gifts",
}
# Words of a category name too generic to pick the category on their own ("Home & Kitchen": "kitchen" does).
_GENERIC_CATEGORY_WORDS = {"and", "the", "of", "for", "home", "other", "misc", "miscellaneous", "general", "products", "items", "goods"}


def parse_constraints(request: str, categories: Iterable[str] = ()) -> Constraints:
    """Price limits and catalog categories stated in a request."""
    text = request.lower()
    maxima: list[float] = []
    minima: list[float] = []
    taken: list[tuple[int, int]] = []

    def free(span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in taken)

    for match in _RANGE.finditer(text):
        low_text, high_text = next((match.group(x), match.group(y)) for x, y in (("a", "b"), ("c", "d"), ("e", "f")) if match.group(x))
        low, high = _amount(low_text), _amount(high_text)
        # "$100-$300" needs a currency somewhere; "between 100 and 300" is a range by its words.
        bare = match.group("e") is not None and not (_CURRENCY.search(low_text) or _CURRENCY.search(high_text))
        if low is None or high is None or bare or not _plausible(text, match, low_text + high_text):
            continue
        minima.append(min(low, high))
        maxima.append(max(low, high))
        taken.append(match.span())
    # Limits leftmost first, so "not less than $100" is a minimum, not "less than $100".
    limits = [(m, found) for pattern, found in ((_MAX, maxima), (_MIN, minima)) for m in pattern.finditer(text)]
    for match, found in sorted(limits, key=lambda item: (item[0].start(), -item[0].end())):
        if not free(match.span()):
            continue
        amount_text = match.group("a") or match.group("b")
        value = _amount(amount_text)
        # A suffix ("$800 or less") states its own context; a prefix needs a currency or a clean ending.
        if value is None or (match.group("a") and not _plausible(text, match, amount_text)):
            continue
        found.append(value)
        taken.append(match.span())
    return Constraints(
        max_price=min(maxima) if maxima else None,
        min_price=max(minima) if minima else None,
        categories=match_categories(request, categories),
    )


def _amount(text: str) -> float | None:
    digits = re.search(r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?", text)
    if not digits:
        return None
    value = float(digits.group(1).replace(",", "") + (digits.group(2) or ""))
    if re.search(r"\d\s*k\b", text, re.I):
        value *= 1000
    return value


def _plausible(text: str, match: re.Match, amount_text: str) -> bool:
    """A number is a price if it carries a currency or is followed by nothing that makes it a quantity."""
    if _CURRENCY.search(amount_text):
        return True
    following = _WORD.match(text, _skip_spaces(text, match.end()))
    if following is None:  # end of text or punctuation
        return not re.match(r"\s*(?:%|\"|'')", text[match.end():])
    return following.group(0) in _AFTER_BARE_AMOUNT


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def singular_words(text: str) -> set[str]:
    """The words of `text`, lower case and singular: what product matching compares."""
    return {singular(w) for w in _WORD.findall(text.lower())}


def singular(word: str) -> str:
    """Enough English plural folding to match "a laptop" with Laptops and "tablet" with Phones & Tablets."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def match_categories(request: str, categories: Iterable[str]) -> tuple[str, ...]:
    """Catalog categories the request names by one of their distinctive words, singular or plural.

    Only a word used as the thing asked for counts: "a laptop for school" and "books under $20" name
    Laptops and Books, but in "hiking boots" or "a laptop bag" the category's word only describes
    another noun, so those requests are left to retrieval instead of being held to the wrong category.
    """
    tokens = _TOKEN.findall(request.lower())
    matched = []
    for category in categories:
        keys = {singular(w) for w in _WORD.findall(category.lower()) if w not in _GENERIC_CATEGORY_WORDS and len(w) > 2}
        for i, token in enumerate(tokens):
            if singular(token) not in keys:
                continue
            j = i + 1
            while j < len(tokens) and singular(tokens[j]) in keys:  # "camping hiking", "phones tablets"
                j += 1
            following = tokens[j] if j < len(tokens) else None
            if following is None or not following.isalnum() or any(ch.isdigit() for ch in following) or following in _HEAD_FOLLOWERS:
                if category not in matched:
                    matched.append(category)
                break
    return tuple(matched)


# ---------------------------------------------------------------- is it a shopping request?

# Words that ask for products ("recommend", "I need a", "do you sell") ...
_SHOPPING = re.compile(
    r"\b(?:recommend\w*|suggest\w*|looking for|look(?:ing)? at|shopping for|in the market for|gift ideas?|"
    r"(?:i|we)(?:'m| am| are)? (?:need|want|would like|'d like|like|after)(?: to buy| to get)? (?:a|an|some|new|good|cheap|the)\b|"
    r"do you (?:sell|have|carry|stock|got)|what \w+(?: \w+)? do you (?:sell|have|carry|stock)|show me|any good|"
    r"(?:the )?best \w+(?: \w+)? for|options? for|buy(?:ing)? (?:a|an|some)|"
    r"something (?:like|similar)|similar to|anything like|like the (?:last|one|other))\b",
    re.I,
)
# ... and words that make it about the store's rules instead ("return a laptop", "laptop warranty").
_POLICY_WORDS = re.compile(
    r"\b(?:return\w*|refund\w*|exchang\w*|warrant\w*|ship\w*|deliver\w*|track\w*|cancel\w*|order(?:s|ed)? (?:number|status)|"
    r"polic\w*|invoice|password|account|payment|pay with|gift cards?|phone number|e-?mail|address|contact|hours|opening|"
    r"locations?|stores? (?:in|near))\b",
    re.I,
)
_SIMILAR = re.compile(r"\b(?:something (?:like|similar)|similar to|anything like|like the (?:last|one|other)|more like)\b", re.I)


# Title words that say nothing about what a product is.
_TITLE_STOPWORDS = {
    "and", "the", "for", "with", "without", "of", "in", "to", "by", "at", "on", "your", "own", "every", "any", "all",
    "new", "pro", "max", "mini", "lite", "plus", "edition", "set", "pack", "pair", "piece", "pieces", "one", "two", "four",
}


def product_words(products: Iterable[Product]) -> frozenset[str]:
    """The words (singular, lower case) that name products of the catalog: "tent", "blender", "shoe"."""
    words = set()
    for product in products:
        for word in _WORD.findall(f"{product.title} {product.category}".lower()):
            if len(word) > 2 and word.isalpha() and word not in _TITLE_STOPWORDS:
                words.add(singular(word))
    return frozenset(words)


def is_product_request(text: str, categories: Iterable[str], words: Iterable[str] = ()) -> bool:
    """Does the customer ask for product suggestions? A shopping phrase ("recommend", "I need a", "do you
    sell") about a catalog category, a product word of the catalog (`words`, see product_words), a price,
    or something seen before ("something like the last thing I looked at"); and not about a store rule
    ("can I return a laptop?" is a policy question)."""
    if not _SHOPPING.search(text) or _POLICY_WORDS.search(text):
        return False
    constraints = parse_constraints(text, categories)
    if constraints.categories or constraints.max_price is not None or constraints.min_price is not None or _SIMILAR.search(text):
        return True
    known = frozenset(words)
    return any(singular(w) in known for w in _WORD.findall(text.lower()))


def mentions_store_rules(text: str) -> bool:
    """Returns, shipping, warranty, payment...: a question about the store's rules, whatever product it names."""
    return bool(_POLICY_WORDS.search(text))


def asks_for_similar(text: str) -> bool:
    return bool(_SIMILAR.search(text))


def product_from_passage(passage: Passage) -> Product | None:
    """A Product from a catalog passage's metadata (see knowledge_base.loaders._product_section)."""
    meta = passage.metadata or {}
    sku = str(meta.get("sku") or "").strip()
    if passage.doc_type != "product" or not sku:
        return None
    try:
        price = float(str(meta.get("price", "")).replace(",", ""))
    except ValueError:
        return None  # a product without a readable price cannot be checked against a budget
    try:
        stock = int(float(str(meta.get("stock") or 0)))
    except ValueError:
        stock = 0
    title = passage.title_path[-1] if len(passage.title_path) >= 3 else passage.title
    return Product(
        sku=sku,
        title=title,
        category=str(meta.get("category") or (passage.title_path[1] if len(passage.title_path) >= 3 else "")),
        price=price,
        currency=str(meta.get("currency") or "USD"),
        stock=stock,
        passage_id=passage.passage_id,
    )


# ---------------------------------------------------------------- the reply


def money(value: float, currency: str = "USD", cents: bool = True) -> str:
    amount = f"{value:,.2f}" if cents or value != int(value) else f"{int(value):,}"
    return f"${amount}" if currency.upper() == "USD" else f"{amount} {currency}"


def describe(recommendations: Recommendations) -> str:
    """The reply, from catalog fields only: one line per product, or what could not be met."""
    c = recommendations.constraints
    currency = recommendations.currency
    where = f" in {' or '.join(c.categories)}" if c.categories else ""
    wanted = f"{where}{c.price_phrase(currency)}"
    if recommendations.products:
        intro = f"Here are some options{wanted} that are in stock:" if wanted else "Here are some options from our catalog that are in stock:"
        lines = [f"- {p.title} (SKU {p.sku}) — {money(p.price, p.currency)}" for p in recommendations.products]
        return "\n".join([intro, *lines])
    if recommendations.unmet == "catalog":
        return "I don't have a product catalog to recommend from yet."
    if recommendations.unmet == "category":
        return f"I couldn't find any products{where}."
    if recommendations.unmet == "price":
        low, high = recommendations.price_range or (0.0, 0.0)
        scope = f"in {' or '.join(c.categories)}" if c.categories else "in our catalog"
        if c.max_price is not None and (c.min_price is None or low > c.max_price):
            detail = f"the lowest price {scope} is {money(low, currency)}"
        elif c.min_price is not None and high < c.min_price:
            detail = f"the highest price {scope} is {money(high, currency)}"
        else:
            detail = f"prices {scope} range from {money(low, currency)} to {money(high, currency)}"
        return f"I couldn't find anything{wanted}: {detail}."
    return f"Everything{wanted or ' that matches'} is out of stock right now."
