"""The generator's prompts (shared with training, so the LM is tuned on exactly what it is asked at run
time) and the extractive templates every generated reply falls back to.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

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
