"""Product questions answered from the named product's catalog fields, never a neighbour's."""

from __future__ import annotations

import pytest

from answering.products import ProductFacts, ProductFactsFirst
from core.types import Passage, Reply
from knowledge_base.loaders import _product_section


def product(pid: int, sku: str, title: str, price: str, stock: str, attributes: str, description: str, category="Laptops") -> Passage:
    section = _product_section("Catalog", {"sku": sku, "title": title, "category": category, "price": price, "currency": "USD",
                                           "stock": stock, "attributes": attributes, "description": description})
    return Passage(pid, f"store/catalog.csv#{sku}", "Catalog", section.title_path, section.text, "product", "en", section.metadata)


CATALOG = [
    product(1, "L1", "Corvid Go 14 Laptop, 8GB RAM, Silver", "549.00", "16", '{"brand": "Corvid", "battery_hours": 10, "weight_kg": 1.45}',
            "An everyday laptop. It lasts up to 10 hours on a charge."),
    product(2, "L2", "Corvid Go 14 Laptop, 16GB RAM, Silver", "699.00", "0", '{"brand": "Corvid", "battery_hours": 10, "weight_kg": 1.45}',
            "An everyday laptop. It lasts up to 10 hours on a charge."),
    product(3, "L3", "Corvid Pro 16 Laptop, 32GB RAM", "1899.00", "4", '{"brand": "Corvid", "battery_hours": 14}', "A fast laptop."),
    product(4, "T1", "Northwind Basecamp 3 Backpacking Tent", "329.00", "2", '{"brand": "Northwind", "weight_kg": 2.3}',
            "A three-person tent. It weighs 2.3 kg with stakes.", "Camping & Hiking"),
    product(5, "B1", "The Lighthouse Keeper's Map by Clara Fenwick (Hardcover)", "24.00", "7", '{"author": "Clara Fenwick", "pages": 312}',
            "A novel.", "Books"),
]


@pytest.fixture(scope="module")
def facts() -> ProductFacts:
    return ProductFacts(CATALOG)


@pytest.mark.parametrize("question, expected", [
    ("how much is the corvid go 14 16gb", "Corvid Go 14 Laptop, 16GB RAM, Silver: $699.00."),
    ("is the basecamp 3 tent in stock?", "Northwind Basecamp 3 Backpacking Tent: 2 in stock."),
    ("corvid go 14 16gb stock", "Corvid Go 14 Laptop, 16GB RAM, Silver: out of stock."),
    ("how long does the battery last on the corivd go 14", "Corvid Go 14 Laptop: battery: 10 hours."),
    ("who wrote the lighthouse keepers map", "The Lighthouse Keeper's Map by Clara Fenwick (Hardcover): author: Clara Fenwick."),
])
def test_a_named_products_field(facts, question, expected):
    reply = facts.answer(question)
    assert reply is not None and reply.kind == "answer" and reply.text.startswith(expected)
    assert reply.metadata["route"] == "product_facts" and reply.sources[0].document.startswith("store/catalog.csv#")


def test_versions_the_question_leaves_open_are_each_answered(facts):
    reply = facts.answer("price of the corvid go 14?")
    assert "$549.00" in reply.text and "$699.00" in reply.text and "Pro 16" not in reply.text


def test_the_descriptions_own_sentence_backs_an_attribute(facts):
    assert facts.answer("how heavy is the basecamp 3 tent").text == "Northwind Basecamp 3 Backpacking Tent: weight: 2.3 kg. It weighs 2.3 kg with stakes."


@pytest.mark.parametrize("question", [
    "how much is the corvid laptop",  # two models fit: the customer must say which
    "can i return the corvid go 14",  # a store rule, whatever product it names
    "how much does shipping cost",
    "how much is a sleeping pad",
    "wie viel kostet das Corvid Go 14",  # not English: the answerer behind decides
])
def test_not_a_named_products_field(facts, question):
    assert facts.answer(question) is None


def test_a_named_product_without_a_field_is_quoted_from_its_own_passage(facts):
    assert facts.named_product("does the basecamp 3 tent have two doors").passage_id == 4
    assert facts.named_product("how much is the basecamp 3 tent") is None  # that one has a field


class Behind:
    def __init__(self):
        self.asked = []

    def answer_many(self, questions):
        self.asked += questions
        return [Reply("from the documents", kind="answer") for _ in questions]


def test_first_the_catalog_then_the_answerer_behind(facts):
    behind = Behind()
    quoted = []
    answerer = ProductFactsFirst(behind, facts, quote=lambda q, p: quoted.append(p.passage_id) or Reply(f"quoted {p.passage_id}"))
    replies = answerer.answer_many(["how much is the basecamp 3 tent", "do you ship to canada", "does the basecamp 3 tent have doors"])
    assert replies[0].metadata["route"] == "product_facts" and replies[1].text == "from the documents"
    assert replies[2].text == "quoted 4" and replies[2].metadata["route"] == "product_description"
    assert behind.asked == ["do you ship to canada"] and quoted == [4]
