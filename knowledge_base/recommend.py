"""Product recommendations from the store's own catalog.

Catalog passages are retrieved for the request (plus the customer's recent messages, so "something
like the last one" has context) and only products meeting every constraint of the request
(knowledge_base.catalog.parse_constraints), and in stock, are kept, best retrieval score first.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, Sequence

from core.types import RetrievalFilters, ScoredPassage
from knowledge_base.catalog import (
    Constraints,
    Product,
    Recommendations,
    is_product_request,
    parse_constraints,
    product_from_passage,
    product_words,
    singular_words,
)

DEFAULT_MAX_RESULTS = 3
# Passages asked of the retriever; it returns at most its own candidate pool (dense + BM25).
DEFAULT_CANDIDATES = 100
# Earlier customer messages added to the retrieval query, and how much of them.
HISTORY_TURNS = 3
HISTORY_CHARS = 600
PRODUCT_FILTER = RetrievalFilters(doc_types=("product",))


class ProductRetriever(Protocol):
    """What the recommender needs of knowledge_base.retriever.HybridRetriever."""

    kb: Any  # .passages: dict[int, Passage]

    def warm_up(self) -> None: ...

    def retrieve(self, query: str, top_k: int | None = None, filters: RetrievalFilters | None = None) -> list[ScoredPassage]: ...


class ProductRecommender:
    def __init__(
        self, retriever: ProductRetriever, *, max_results: int = DEFAULT_MAX_RESULTS, candidates: int = DEFAULT_CANDIDATES
    ) -> None:
        self.retriever = retriever
        self.max_results = max_results
        self.candidates = candidates
        self._catalog: dict[str, Product] | None = None
        self._words: frozenset[str] | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self.retriever.warm_up()
        self.catalog()

    def catalog(self) -> dict[str, Product]:
        """Every product of the index by SKU (read once; the first passage of a product names it)."""
        with self._lock:
            if self._catalog is None:
                catalog: dict[str, Product] = {}
                for passage in sorted(self.retriever.kb.passages.values(), key=lambda p: p.passage_id):
                    product = product_from_passage(passage)
                    if product is not None and product.sku not in catalog:
                        catalog[product.sku] = product
                self._catalog = catalog
            return self._catalog

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.category for p in self.catalog().values() if p.category))

    @property
    def product_words(self) -> frozenset[str]:
        if self._words is None:
            self._words = product_words(self.catalog().values())
        return self._words

    def is_request(self, text: str) -> bool:
        """Is `text` a request for product suggestions (is_product_request over this catalog)?"""
        return bool(self.catalog()) and is_product_request(text, self.categories, self.product_words)

    def run(self, request: str, *, max_results: int | None = None, history: Sequence[str] = (),
            similar_to: Product | None = None) -> Recommendations:
        """Products for `request`. `history`: the conversation's recent requests; `similar_to`: the
        product a "something like that" refers to (its title leads the search, its category holds)."""
        limit = self.max_results if max_results is None else max_results
        catalog = self.catalog()
        constraints = parse_constraints(request, self.categories)
        if similar_to is not None:
            history = [*history, similar_to.title]
            if not constraints.categories and similar_to.category:
                constraints = Constraints(constraints.max_price, constraints.min_price, (similar_to.category,))
        retrieved: list[Product] = []
        for scored in self.retriever.retrieve(_query(request, history), top_k=self.candidates, filters=PRODUCT_FILTER):
            product = product_from_passage(scored.passage)
            if product is not None and all(p.sku != product.sku for p in retrieved):
                retrieved.append(catalog.get(product.sku, product))
        if not constraints.categories:
            # "a tent under $300" names no category, but the best match that is a tent does: the
            # suggestions stay in it instead of filling up with whatever else costs under $300.
            inferred = _named_category(request, history, retrieved, self.product_words)
            if inferred:
                constraints = Constraints(constraints.max_price, constraints.min_price, (inferred,))
        eligible = [p for p in catalog.values() if constraints.accepts(p)]
        if not eligible:
            return self._nothing(constraints, list(catalog.values()))
        eligible_skus = {p.sku for p in eligible}
        chosen = [p for p in retrieved if p.sku in eligible_skus][:limit]
        if len(chosen) < limit:
            # The retriever's pool may miss products that fit (a small category, a strict budget):
            # the rest of the fitting catalog follows, those sharing most words with the request first.
            words = singular_words(request)
            rest = [p for p in eligible if p not in chosen]
            rest.sort(key=lambda p: -len(words & singular_words(f"{p.title} {p.category}")))
            chosen.extend(rest[: limit - len(chosen)])
        return Recommendations(tuple(chosen), constraints, currency=chosen[0].currency if chosen else "USD")

    def _nothing(self, constraints: Constraints, catalog: list[Product]) -> Recommendations:
        currency = catalog[0].currency if catalog else "USD"
        if not catalog:
            return Recommendations((), constraints, "catalog", currency=currency)
        in_category = [p for p in catalog if constraints.accepts_category(p)]
        if not in_category:
            return Recommendations((), constraints, "category", currency=currency)
        currency = in_category[0].currency
        if not any(constraints.accepts_price(p) for p in in_category):
            prices = [p.price for p in in_category]
            return Recommendations((), constraints, "price", (min(prices), max(prices)), currency=currency)
        return Recommendations((), constraints, "stock", currency=currency)


def _named_category(request: str, history: Sequence[str], retrieved: Sequence[Product], known: frozenset[str]) -> str | None:
    """The category of the best-ranked product whose title has a product word of the request ("tent",
    "blender"); failing that, of the conversation's last turns ("something like the last one")."""
    for text in (request, " ".join(list(history)[-HISTORY_TURNS:])):
        wanted = singular_words(text) & known
        if not wanted:
            continue
        for product in retrieved:
            if wanted & singular_words(product.title):
                return product.category or None
    return None


def _query(request: str, history: Sequence[str]) -> str:
    recent = " ".join(h.strip() for h in list(history)[-HISTORY_TURNS:] if h and h.strip())
    return f"{request.strip()} {recent[-HISTORY_CHARS:]}".strip()
