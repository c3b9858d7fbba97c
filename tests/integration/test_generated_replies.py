"""The shipped generator on the sample store, end to end: real retrieval, real SmolLM2 + adapter.

- 50 policy questions of our own: no reply states a number or a date its cited passage does not.
- 30 shopping requests: every product in the reply is a catalog product of the stated category,
  within the stated price limit, in stock, with its catalog title and price.
The checks here are written independently of answering.grounding (plain regular expressions over the
text the customer gets), so they would catch a guard that let something through.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from answering.writing import DialogueWriter, Shopping
from core.slots import Slots
from knowledge_base.catalog import money

pytestmark = pytest.mark.integration

POLICY_QUESTIONS = [
    # returns and refunds
    "How many days do I have to send something back?",
    "Can I return things I bought in a sale?",
    "What items are not returnable?",
    "How do I start a return?",
    "Do I pay for return shipping?",
    "Can I send back headphones I opened?",
    "Do you charge a restocking fee?",
    "Can I return a tent after using it camping?",
    "Where should I mail my return?",
    "How long until my refund arrives?",
    "Does the refund go back to my card?",
    "Do I get the shipping cost back when I return something?",
    "How can I swap an item for another size?",
    "The price went down after I bought it, can I get the difference back?",
    "What happens to gifts returned after the holidays?",
    # shipping
    "What does shipping cost?",
    "Is there free shipping?",
    "How quickly do you process orders?",
    "Do you deliver outside the US?",
    "Will I pay customs fees on international orders?",
    "What is the shipping price to Hawaii?",
    "How can I track my package?",
    "My parcel shows delivered but it never came, what do I do?",
    "Can a power station be shipped to Canada?",
    "Do you deliver to PO boxes?",
    "How much is shipping to Canada?",
    "How long does Express delivery take?",
    # payment
    "Which payment methods are accepted?",
    "When do you charge my card?",
    "Can I pay in instalments?",
    "Can I pay in euros?",
    "Why did my payment get declined?",
    "Do gift cards have an expiry date?",
    "How many gift cards can I use for one order?",
    "Why are there two charges on my card for one order?",
    # order changes
    "Can I cancel an order?",
    "How do I change the delivery address on my order?",
    "Can I add something to an order I already placed?",
    "If I cancel, when is my money returned?",
    # warranty
    "What is the warranty on laptops?",
    "How do I file a warranty claim?",
    "Is a cracked screen covered by warranty?",
    "Is the battery covered under warranty?",
    # accounts and privacy
    "How do I reset my password?",
    "Can I order without an account?",
    "How do I set up two-factor authentication?",
    "How can I delete my account?",
    "My account got locked, what now?",
    "Do you sell my personal information?",
    "When is customer service available?",
]
assert len(POLICY_QUESTIONS) == 50

# (request, category, price limit): each names one catalog category and a maximum price.
SHOPPING_REQUESTS = [
    ("I need a laptop for school under $800", "Laptops", 800),
    ("Can you recommend a laptop for less than $1,000?", "Laptops", 1000),
    ("looking for a laptop, budget $600", "Laptops", 600),
    ("any good laptops? max $1500", "Laptops", 1500),
    ("I want a new phone under $500", "Phones & Tablets", 500),
    ("recommend me a tablet under $400", "Phones & Tablets", 400),
    ("Do you sell phones for less than 300 dollars?", "Phones & Tablets", 300),
    ("I need headphones under $100", "Audio", 100),
    ("any good speakers under $200?", "Audio", 200),
    ("looking for earbuds, nothing over $150", "Audio", 150),
    ("Can you suggest audio gear under $60?", "Audio", 60),
    ("I need a tent under $300", "Camping & Hiking", 300),
    ("recommend camping gear under $50", "Camping & Hiking", 50),
    ("looking for hiking equipment for less than $120", "Camping & Hiking", 120),
    ("I'm shopping for a sleeping bag, max $250", "Camping & Hiking", 250),
    ("I need a jacket under $150", "Apparel", 150),
    ("any apparel under $40?", "Apparel", 40),
    ("recommend me a hoodie under $80", "Apparel", 80),
    ("I need new shoes under $120", "Footwear", 120),
    ("looking for footwear less than $90", "Footwear", 90),
    ("Can you recommend boots under $200?", "Footwear", 200),
    ("I want a blender under $150", "Home & Kitchen", 150),
    ("recommend kitchen things under $60", "Home & Kitchen", 60),
    ("looking for a coffee grinder for less than $100", "Home & Kitchen", 100),
    ("I need a book under $20", "Books", 20),
    ("recommend me books under $15", "Books", 15),
    ("any good books for less than $30?", "Books", 30),
    ("I need fitness equipment under $100", "Fitness", 100),
    ("recommend a yoga mat under $50", "Fitness", 50),
    ("looking for dumbbells, budget $200", "Fitness", 200),
]
assert len(SHOPPING_REQUESTS) == 30

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_MONTHS = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b")
_SKU = re.compile(r"\b[A-Z]{2}-[A-Z]{3}-\d{4}\b")
_PRICE = re.compile(r"\$\s?\d[\d,]*(?:\.\d\d)?")


def numbers_not_in(reply: str, passage: str) -> list[str]:
    """Numbers and month names in `reply` that `passage` does not contain (digits compared without separators)."""
    passage_digits = {re.sub(r"[,.:]", "", n) for n in _NUMBER.findall(passage)} | set(_NUMBER.findall(passage))
    missing = [n for n in _NUMBER.findall(reply) if n not in passage_digits and re.sub(r"[,.:]", "", n) not in passage_digits]
    missing += [m for m in _MONTHS.findall(reply) if m not in passage]
    return missing


@pytest.fixture(scope="module")
def loop_and_pool():
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
    yield loop, pool
    pool.shutdown()
    loop.close()


def test_fifty_policy_answers_state_no_number_or_date_their_passage_does_not(sample_answerer, sample_writer, loop_and_pool):
    loop, pool = loop_and_pool
    writer = DialogueWriter(sample_writer, pool)
    problems, generated, answered = [], 0, 0
    for question in POLICY_QUESTIONS:
        reply = sample_answerer.answer(question)
        if reply.kind != "answer":
            continue
        answered += 1
        streamed: list[str] = []

        async def collect(piece: str) -> None:
            streamed.append(piece)

        phrased = loop.run_until_complete(writer.answer(question, reply, collect))
        generated += phrased.metadata["phrasing"]["generated"]
        passage = phrased.sources[0].passage
        for text in (phrased.text, "".join(streamed)):  # what the customer ends with, and what streamed before it
            missing = numbers_not_in(text, passage)
            if missing:
                problems.append((question, text, missing))
    print(f"\n50 policy questions: {answered} answered, {generated} phrased by the generator, {len(problems)} with a number "
          f"or date not in the cited passage")
    assert answered >= 45  # the knowledge base answers nearly all of them
    # A 135M model restating a quoted answer often drops a clause or a sentence; the check sends the
    # extractive reply then (README: about half are phrased). Far fewer would mean a broken generator.
    assert generated >= 15, "the generator should phrase a good share of answers, not fall back every time"
    assert problems == []


def test_thirty_shopping_requests_list_only_matching_catalog_products(sample_recommender, sample_writer, loop_and_pool):
    loop, pool = loop_and_pool
    catalog = sample_recommender.catalog()
    by_title = {p.title: p for p in catalog.values()}
    shopping = Shopping(sample_recommender, pool, DialogueWriter(sample_writer, pool))
    problems, generated, shown = [], 0, 0
    for request, category, limit in SHOPPING_REQUESTS:
        reply = loop.run_until_complete(shopping.suggest(request, Slots()))
        generated += reply.metadata["phrasing"]["generated"]
        products = reply.custom()["products"]
        if not products:
            problems.append((request, "no products", reply.text))
        skus_in_text = _SKU.findall(reply.text)
        if sorted(set(skus_in_text)) != sorted(p["sku"] for p in products):
            problems.append((request, "text and custom.products differ", skus_in_text, products))
        for sku in skus_in_text:
            product = catalog.get(sku)
            if product is None:
                problems.append((request, "not in the catalog", sku))
                continue
            shown += 1
            if product.category != category or product.price > limit or product.stock <= 0:
                problems.append((request, "does not match the request", sku, product.category, product.price, product.stock))
        for line in reply.text.splitlines():
            line_skus = _SKU.findall(line)
            for price in _PRICE.findall(line):
                value = float(price.replace("$", "").replace(",", "").strip())
                if line_skus and any(abs(catalog[s].price - value) > 0.005 for s in line_skus if s in catalog):
                    problems.append((request, "wrong price", line))
                if not line_skus and value != limit:
                    problems.append((request, "a price that is neither a product's nor the request's", line))
            for title in re.findall(r"^- (.+?) \(SKU", line):
                if title not in by_title:
                    problems.append((request, "title not in the catalog", title))
        for item in products:
            product = catalog[item["sku"]]
            assert item["title"] == product.title and item["price"] == product.price
            assert money(product.price, product.currency) in reply.text
    print(f"\n30 shopping requests: {shown} products listed, {generated} introductions written by the fine-tuned LM, "
          f"{len(problems)} problems")
    assert problems == []
