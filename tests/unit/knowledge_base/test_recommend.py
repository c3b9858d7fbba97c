"""Product recommendations: the constraint parser, catalog filtering and the reply, over small fakes.
The same recommender over the real sample store is tested in tests/integration/test_rasa_action_server.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.types import Passage, RetrievalFilters, ScoredPassage
from knowledge_base.catalog import (
    Constraints,
    Product,
    Recommendations,
    describe,
    match_categories,
    parse_constraints,
    product_from_passage,
    singular,
)
from knowledge_base.recommend import ProductRecommender

CATEGORIES = ("Laptops", "Phones & Tablets", "Audio", "Camping & Hiking", "Home & Kitchen", "Books", "Footwear")


@pytest.mark.parametrize(
    "request_text, max_price, min_price",
    [
        ("I need a laptop for school under $800", 800, None),
        ("something below 50 dollars", 50, None),
        ("less than 100", 100, None),
        ("max $60", 60, None),
        ("I have a budget of 300", 300, None),
        ("my budget is about $300", 300, None),
        ("headphones over $100", None, 100),
        ("not less than $100", None, 100),
        ("no more than $500", 500, None),
        ("earbuds, nothing over $150", 150, None),
        ("not above $90 please", 90, None),
        ("between $100 and $300", 300, 100),
        ("from 100 to 300", 300, 100),
        ("$100-$300", 300, 100),
        ("$800 or less", 800, None),
        ("$1,299.99 or more", None, 1299.99),
        ("1.5k max", 1500, None),
        ("cheaper than 50 bucks", 50, None),
        ("under 800 for school", 800, None),
        ("under $900 but over $400", 900, 400),
        ("under $800, ideally under $600", 600, None),
        # Numbers that are sizes, weights, durations or counts are not prices.
        ("a tent under 2kg", None, None),
        ("battery of more than 8 hours", None, None),
        ("a 14-16 inch laptop", None, None),
        ("a 2-in-1 laptop with 16GB RAM", None, None),
        ("a tent for more than 2 people", None, None),
        ("a laptop", None, None),
    ],
)
def test_price_limits(request_text, max_price, min_price):
    c = parse_constraints(request_text, CATEGORIES)
    assert (c.max_price, c.min_price) == (max_price, min_price)


@pytest.mark.parametrize(
    "request_text, categories",
    [
        ("I need a laptop for school under $800", ("Laptops",)),
        ("any LAPTOPS?", ("Laptops",)),
        ("I want a tablet", ("Phones & Tablets",)),
        ("a phone between $200 and $400", ("Phones & Tablets",)),
        ("kids books", ("Books",)),
        ("camping gear", ("Camping & Hiking",)),
        ("something for the kitchen", ("Home & Kitchen",)),
        ("books, and something for hiking", ("Camping & Hiking", "Books")),
        # A category's word describing another noun does not choose the category.
        ("hiking boots", ()),
        ("a laptop bag", ()),
        # Generic words of a category name ("Home") do not choose it on their own.
        ("something for my home", ()),
        ("headphones", ()),
    ],
)
def test_categories_come_from_the_catalog_names(request_text, categories):
    assert match_categories(request_text, CATEGORIES) == categories


def test_singular():
    assert [singular(w) for w in ("laptops", "laptop", "accessories", "watches", "glasses", "fitness", "audio", "bus")] == [
        "laptop", "laptop", "accessory", "watch", "glass", "fitness", "audio", "bus",
    ]


# ---------------------------------------------------------------- the recommender over a fake retriever


def product_passage(pid: int, sku: str, title: str, category: str, price: str, stock: str, currency: str = "USD") -> Passage:
    return Passage(
        passage_id=pid,
        doc_id="store/catalog.csv",
        title="Catalog",
        title_path=("Catalog", category, title),
        text=f"{title} (SKU {sku}), {category}. Price: {price} {currency}.",
        doc_type="product",
        language="en",
        metadata={"sku": sku, "price": price, "currency": currency, "stock": stock, "category": category},
    )


CATALOG = [
    product_passage(1, "LAP-1", "Budget Laptop 14", "Laptops", "449.00", "10"),
    product_passage(2, "LAP-2", "Student Laptop 15", "Laptops", "699.00", "3"),
    product_passage(3, "LAP-3", "Pro Laptop 16", "Laptops", "1899.00", "5"),
    product_passage(4, "LAP-4", "Sold-out Laptop 13", "Laptops", "599.00", "0"),
    product_passage(5, "LAP-2", "Student Laptop 15", "Laptops", "699.00", "3"),  # second chunk of LAP-2
    product_passage(6, "AUD-1", "Wireless Headphones", "Audio", "199.00", "40"),
    product_passage(7, "AUD-2", "Budget Earbuds", "Audio", "49.00", "12"),
    product_passage(8, "BAD-1", "Priceless Thing", "Audio", "call us", "1"),  # unreadable price: never offered
    Passage(9, "store/returns.md", "Returns", ("Returns",), "You have 30 days to return a laptop.", "policy", "en"),
]


class FakeRetriever:
    """Returns its passages in a fixed order (most words shared with the query first), like a retriever."""

    def __init__(self, passages, order=None):
        self.kb = SimpleNamespace(passages={p.passage_id: p for p in passages})
        self.order = order
        self.calls: list[tuple[str, int | None, RetrievalFilters | None]] = []
        self.warmed = 0

    def warm_up(self):
        self.warmed += 1

    def retrieve(self, query, top_k=None, filters=None):
        self.calls.append((query, top_k, filters))
        words = set(query.lower().split())
        passages = list(self.kb.passages.values())
        if self.order is not None:
            passages = [self.kb.passages[i] for i in self.order]
        else:
            passages.sort(key=lambda p: -len(words & set(p.text.lower().replace(",", " ").split())))
        # A real retriever honours the filter; the policy passage shows the recommender checks anyway.
        return [ScoredPassage(p, score=10.0 - i) for i, p in enumerate(passages)][:top_k]


@pytest.fixture
def retriever():
    return FakeRetriever(CATALOG)


@pytest.fixture
def recommender(retriever):
    return ProductRecommender(retriever)


def test_catalog_is_read_from_product_passages(recommender, retriever):
    recommender.warm_up()
    assert retriever.warmed == 1
    catalog = recommender.catalog()
    assert list(catalog) == ["LAP-1", "LAP-2", "LAP-3", "LAP-4", "AUD-1", "AUD-2"]
    assert catalog["LAP-2"] == Product("LAP-2", "Student Laptop 15", "Laptops", 699.0, "USD", 3, 2)
    assert recommender.categories == ("Laptops", "Audio")


def test_only_products_meeting_every_constraint_in_retrieval_order(recommender, retriever):
    retriever.order = [9, 3, 5, 4, 2, 6, 1, 7]
    found = recommender.run("a laptop for school under $800")
    assert found.constraints == Constraints(max_price=800.0, categories=("Laptops",))
    # LAP-3 is too dear, LAP-4 out of stock, AUD-1 not a laptop; LAP-2's two passages give one product.
    assert [p.sku for p in found.products] == ["LAP-2", "LAP-1"]
    assert found.unmet is None
    query, top_k, filters = retriever.calls[-1]
    assert query == "a laptop for school under $800"
    assert filters == RetrievalFilters(doc_types=("product",))
    assert top_k >= 50


def test_max_results_and_minimum_price(recommender, retriever):
    retriever.order = [1, 2, 3, 6, 7]
    assert [p.sku for p in recommender.run("something over $100", max_results=2).products] == ["LAP-1", "LAP-2"]
    assert [p.sku for p in recommender.run("a laptop over $1000").products] == ["LAP-3"]


def test_recent_history_joins_the_query(recommender, retriever):
    recommender.run("something like the last thing I looked at", history=["hello", "do you have wireless headphones?"])
    query = retriever.calls[-1][0]
    assert query.startswith("something like the last thing I looked at")
    assert "wireless headphones" in query


def test_a_product_word_keeps_the_suggestions_in_its_category(recommender, retriever):
    # "earbuds" names no category, but the best match that is earbuds is Audio: no laptop fills the list.
    retriever.order = [7, 1, 6]
    found = recommender.run("any earbuds under $500?")
    assert found.constraints.categories == ("Audio",)
    assert [p.sku for p in found.products] == ["AUD-2", "AUD-1"]
    # "something like the last one": the product it refers to leads the search and holds the category.
    retriever.order = [1, 6, 7]
    liked = recommender.catalog()["AUD-1"]
    found = recommender.run("something like the last thing I looked at", similar_to=liked)
    assert found.constraints.categories == ("Audio",) and [p.sku for p in found.products] == ["AUD-1", "AUD-2"]
    assert "Wireless Headphones" in retriever.calls[-1][0]


def test_shopping_requests_are_told_from_policy_questions(recommender):
    assert recommender.is_request("recommend me some earbuds")
    assert recommender.is_request("I need a laptop for school under $800")
    assert recommender.is_request("something like the last thing I looked at")
    assert not recommender.is_request("Can I return a laptop?")
    assert not recommender.is_request("What is the warranty on headphones?")
    assert not recommender.is_request("Do you have a phone number?")
    assert not recommender.is_request("I am looking for my order")


def test_products_the_retriever_missed_fill_up_the_list(recommender, retriever):
    retriever.order = [6]  # the retriever's pool held one headphone only
    found = recommender.run("audio under $300")
    assert [p.sku for p in found.products] == ["AUD-1", "AUD-2"]


def test_nothing_in_the_price_range_says_so(recommender):
    found = recommender.run("a laptop under $300")
    assert found.products == ()
    assert found.unmet == "price"
    assert found.price_range == (449.0, 1899.0)
    assert describe(found) == "I couldn't find anything in Laptops under $300: the lowest price in Laptops is $449.00."
    over = recommender.run("a laptop over $5,000")
    assert describe(over) == "I couldn't find anything in Laptops over $5,000: the highest price in Laptops is $1,899.00."


def test_everything_fitting_out_of_stock_says_so(recommender):
    found = recommender.run("a laptop between $550 and $650")
    assert (found.products, found.unmet) == ((), "stock")
    assert describe(found) == "Everything in Laptops between $550 and $650 is out of stock right now."


def test_empty_catalog():
    found = ProductRecommender(FakeRetriever([CATALOG[-1]])).run("a laptop")
    assert (found.products, found.unmet) == ((), "catalog")
    assert describe(found) == "I don't have a product catalog to recommend from yet."


def test_describe_lists_catalog_fields_only():
    products = (
        Product("LAP-1", "Budget Laptop 14", "Laptops", 449.0, "USD", 10, 1),
        Product("LAP-9", "Euro Laptop", "Laptops", 1299.5, "EUR", 1, 9),
    )
    text = describe(Recommendations(products, Constraints(max_price=1500.0, categories=("Laptops",))))
    assert text == (
        "Here are some options in Laptops under $1,500 that are in stock:\n"
        "- Budget Laptop 14 (SKU LAP-1) — $449.00\n"
        "- Euro Laptop (SKU LAP-9) — 1,299.50 EUR"
    )
    assert describe(Recommendations(products[:1], Constraints())).startswith("Here are some options from our catalog that are in stock:\n")


def test_product_from_passage_rejects_non_products():
    assert product_from_passage(CATALOG[-1]) is None
    assert product_from_passage(CATALOG[7]) is None  # price "call us"
    empty_stock = product_passage(10, "X-1", "Thing", "Audio", "9.99", "")
    assert product_from_passage(empty_stock).stock == 0  # the loader reads "" as out of stock too
