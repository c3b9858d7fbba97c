"""The LM adapter's training data: Bitext support replies (placeholders filled in), "not found"
fallbacks, and product suggestions built from the catalog with the recommender's own constraint
parser; each example is a chat in the very prompt the bot uses at run time (answering.prompts),
tokenised so that only the response is learned.
"""

from __future__ import annotations

import csv
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from answering.prompts import fallback_messages, recommendation_messages, support_messages
from core.errors import BadRequest, DocumentError
from models.chat_format import encode, render_prompt, render_response
from models.intents import is_held_out

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BITEXT = PROJECT_ROOT.parent / "shared" / "data" / "bitext" / "bitext-customer-support-shared.csv"
DEFAULT_CATALOG = PROJECT_ROOT / "knowledge_base" / "sample_store" / "catalog.csv"
BITEXT_RESPONSE_COLUMNS = ("instruction", "response")


@dataclass(frozen=True, slots=True)
class BitextRow:
    instruction: str
    intent: str
    category: str
    response: str


@dataclass(frozen=True, slots=True)
class ChatExample:
    kind: str  # "support", "fallback", "recommendation"
    messages: tuple[tuple[str, str], ...]  # (role, content) before the reply
    response: str

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


def _chat(kind: str, messages: list[dict[str, str]], response: str) -> ChatExample:
    return ChatExample(kind, tuple((m["role"], m["content"]) for m in messages), response)


def load_bitext_responses(path: str | Path) -> list[BitextRow]:
    """Rows of a Bitext customer-support CSV that have both a customer message and a response."""
    from models.intents import read_bitext_rows

    rows = [
        BitextRow(r["instruction"].strip(), (r.get("intent") or "").strip(), (r.get("category") or "").strip(), r["response"].strip())
        for r in read_bitext_rows(path, BITEXT_RESPONSE_COLUMNS)
        if (r.get("instruction") or "").strip() and (r.get("response") or "").strip()
    ]
    if not rows:
        raise BadRequest(f"{path} has no rows with a response", path=str(path))
    return rows


PLACEHOLDER_WORDS = {
    "customer support phone number": "our customer support phone line",
    "customer support email": "our customer support email",
    "customer support availability": "our support hours",
    "customer support hours": "our support hours",
    "customer support channel": "our support channels",
    "customer support team": "our customer support team",
    "live chat": "live chat",
    "live chat support": "live chat",
    "website name": "our website",
    "website": "our website",
    "website url": "our website",
    "company name": "our store",
    "store name": "our store",
    "person name": "there",
    "client name": "there",
    "client first name": "there",
    "currency symbol": "",
    "date range": "the stated period",
    "delivery city": "your city",
    "delivery country": "your country",
    "money amount": "the amount",
    "refund amount": "the refund amount",
}


def fill_placeholders(text: str) -> str:
    """Bitext's {{Placeholders}} as neutral words: "{{Website Name}}" → "our website", "{{Order Number}}" →
    "your order number", anonymised values → "your reference number", a UI name ("{{Order History}}") kept."""

    def replace(match: re.Match) -> str:
        inner = " ".join(match.group(1).split())
        key = inner.lower()
        if key in PLACEHOLDER_WORDS:
            return PLACEHOLDER_WORDS[key]
        if re.fullmatch(r"[0-9A-Fa-f-]{6,}", inner) or "anonymized" in key or "anonymised" in key:
            noun = re.sub(r"\s*anonymi[sz]ed\s*", "", key).strip()
            return f"your {noun}" if noun and not re.search(r"\d", noun) else "your reference number"
        if re.search(r"\b(?:number|id|code)\b", key):
            return f"your {key}"
        return inner

    filled = re.sub(r"\{\{\s*([^}]*?)\s*\}\}", replace, text)
    return re.sub(r"[ \t]+", " ", filled).replace(" ,", ",").replace(" .", ".").strip()


def split_rows(rows: Sequence[BitextRow], fraction: float, on: str = "response") -> tuple[list[BitextRow], list[BitextRow]]:
    """(train, held out): a stable hash of the row's response (or its customer message) decides, the same in every run.

    By response by default: the shared Bitext file has 3,978 messages but only 125 distinct responses,
    so a split by message holds out responses the model trains on, word for word."""
    key = (lambda r: r.response) if on == "response" else (lambda r: r.instruction)
    train = [r for r in rows if not is_held_out(key(r), fraction)]
    held = [r for r in rows if is_held_out(key(r), fraction)]
    return train, held


def cap_per_response(rows: Sequence[BitextRow], limit: int | None) -> list[BitextRow]:
    """At most `limit` rows per distinct response (the first ones), so no reply is recited."""
    if limit is None:
        return list(rows)
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        if seen.get(row.response, 0) < limit:
            seen[row.response] = seen.get(row.response, 0) + 1
            out.append(row)
    return out


def support_example(row: BitextRow) -> ChatExample:
    return _chat("support", support_messages(row.instruction), fill_placeholders(row.response))


FALLBACK_TOPICS = {
    "cancel_order": "cancelling an order", "change_order": "changing an order", "change_shipping_address": "changing a shipping address",
    "check_cancellation_fee": "cancellation fees", "check_invoice": "invoices", "check_payment_methods": "payment methods",
    "check_refund_policy": "the refund policy", "complaint": "this issue", "contact_customer_service": "reaching customer service",
    "contact_human_agent": "reaching a person", "create_account": "creating an account", "delete_account": "closing an account",
    "delivery_options": "delivery options", "delivery_period": "delivery times", "edit_account": "editing an account",
    "get_invoice": "getting an invoice", "get_refund": "refunds", "newsletter_subscription": "the newsletter",
    "payment_issue": "this payment problem", "place_order": "placing an order", "recover_password": "password recovery",
    "registration_problems": "this registration problem", "review": "leaving a review",
    "set_up_shipping_address": "setting up a shipping address", "switch_account": "switching accounts",
    "track_order": "tracking this order", "track_refund": "tracking this refund",
}

FALLBACK_REPLIES = (
    "I'm sorry, I couldn't find information about {topic} in our store's documents, and I don't want to guess. "
    "Would you like me to connect you with a member of our support team?",
    "Thanks for reaching out. I don't have the details about {topic} in the information I can see. Could you tell me "
    "a bit more about what you need, or shall I pass you to a human agent?",
    "I understand this matters to you. Unfortunately I couldn't find an answer about {topic}, and I'd rather not guess. "
    "A member of our team can help you with it; would you like me to connect you?",
    "Sorry, I'm not sure about {topic}, and I can't find it in our store's information. I can hand this over to one of "
    "our support agents, who will be able to help.",
    "I apologise, but I couldn't find anything about {topic} that I can rely on. If you share a few more details I'll "
    "look again, or I can put you in touch with a person from our support team.",
)


def fallback_example(row: BitextRow, rng: random.Random) -> ChatExample:
    topic = FALLBACK_TOPICS.get(row.intent, "that")
    reply = rng.choice(FALLBACK_REPLIES).format(topic=topic)
    return _chat("fallback", fallback_messages(row.instruction), reply)


def load_catalog(path: str | Path) -> list:
    """The catalog CSV's products as knowledge_base.catalog.Product (passage_id: the row number)."""
    from knowledge_base.catalog import Product

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DocumentError(str(path), "file not found") from None
    products = []
    for i, row in enumerate(rows):
        try:
            products.append(Product(row["sku"].strip(), row["title"].strip(), row.get("category", "").strip(), float(row["price"]),
                                    (row.get("currency") or "USD").strip(), int(float(row.get("stock") or 0)), i))
        except (KeyError, ValueError):
            continue
    if not products:
        raise DocumentError(str(path), "no products with a SKU, a title and a price")
    return products


_REQUESTS = (
    "I need {a} {noun} under {budget}",
    "Can you recommend {nouns} for less than {budget}?",
    "looking for {nouns}, budget {budget}",
    "What {nouns} do you have?",
    "any good {nouns}? max {budget}",
    "I'm shopping for {nouns} in {category}, nothing over {budget} please",
    "Do you sell {nouns}?",
    "recommend me {a} {noun}",
    "gift idea: {a} {noun} up to {budget}",
    "Which {nouns} would you suggest between {low} and {budget}?",
)

_INTROS = (
    "Here are some options{wanted} that are in stock:",
    "Sure! Here's what we have{wanted} right now:",
    "Good news, I found some options{wanted} in our catalog:",
    "Here's what I'd suggest{wanted}:",
    "Great choice! These are in stock{wanted}:",
    "Happy to help! Take a look at these{wanted}:",
    "I picked these out for you{wanted}:",
)


def _category_nouns(category: str) -> tuple[str, str]:
    """("laptop", "laptops") for "Laptops"; ("phone or tablet", "phones or tablets") for "Phones & Tablets"."""
    from knowledge_base.catalog import singular

    parts = [p.strip().lower() for p in re.split(r"&|,|\band\b", category) if p.strip()]
    plural = " or ".join(parts)
    single = " or ".join(singular(p) for p in parts)
    return single, plural


def recommendation_examples(products: Sequence, n: int, rng: random.Random, per_reply: int = 3) -> list[ChatExample]:
    """`n` requests made from the catalog's categories and prices, answered with the products that fit them."""
    from knowledge_base.catalog import parse_constraints

    categories = tuple(dict.fromkeys(p.category for p in products if p.category))
    examples: list[ChatExample] = []
    attempts = 0
    while len(examples) < n and attempts < n * 20:
        attempts += 1
        category = rng.choice(categories)
        in_category = [p for p in products if p.category == category]
        prices = sorted(p.price for p in in_category)
        budget_value = rng.choice(prices) * rng.choice((1.0, 1.1, 1.25, 1.5))
        budget_value = max(10, int(math.ceil(budget_value / 10.0) * 10))
        low_value = max(0, int(prices[0] // 10 * 10))
        single, plural = _category_nouns(category)
        template = rng.choice(_REQUESTS)
        request = template.format(
            a="an" if single[:1] in "aeiou" else "a", noun=single, nouns=plural, category=category,
            budget=rng.choice((f"${budget_value}", f"{budget_value} dollars", f"${budget_value:,}")), low=f"${low_value}",
        )
        constraints = parse_constraints(request, categories)
        fitting = [p for p in products if constraints.accepts(p)]
        if not fitting:
            continue
        chosen = rng.sample(fitting, min(per_reply, len(fitting)))
        wanted = ""
        if constraints.categories:
            wanted += f" in {' or '.join(constraints.categories)}"
        wanted += constraints.price_phrase(chosen[0].currency)
        # The model writes the introduction only: the product lines under it are printed from the catalog
        # (answering.phrasing.ReplyWriter.stream_recommendation), so no title, SKU or price is ever generated.
        reply = rng.choice(_INTROS).format(wanted=wanted)
        examples.append(_chat("recommendation", recommendation_messages(request, chosen), reply))
    return examples


def build_examples(
    train_rows: Sequence[BitextRow],
    products: Sequence,
    *,
    support: int | None,
    fallback: int,
    recommendation: int,
    seed: int,
) -> list[ChatExample]:
    """The training mix: Bitext support replies (a sample of `support`, or all), fallbacks and recommendations."""
    rng = random.Random(seed)
    rows = list(train_rows)
    chosen = rows if support is None or support >= len(rows) else rng.sample(rows, support)
    examples = [support_example(r) for r in chosen]
    examples += [fallback_example(r, rng) for r in rng.sample(rows, min(fallback, len(rows)))]
    if products and recommendation:
        examples += recommendation_examples(products, recommendation, rng)
    rng.shuffle(examples)
    return examples


def encode_example(tokenizer, example: ChatExample, max_length: int) -> dict | None:
    """input ids and labels (-100 on the prompt: the loss is on the reply only); None if it does not fit
    (a cut reply would teach the model to stop mid-list)."""
    messages = example.message_dicts()
    prompt = encode(tokenizer, render_prompt(tokenizer, messages))
    reply = encode(tokenizer, render_response(tokenizer, messages, example.response))
    if not reply or len(prompt) + len(reply) > max_length:
        return None
    return {"input_ids": prompt + reply, "labels": [-100] * len(prompt) + reply}


def collate(items: Sequence[dict], pad_id: int):
    import torch

    length = max(len(x["input_ids"]) for x in items)
    input_ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for i, x in enumerate(items):
        n = len(x["input_ids"])
        input_ids[i, :n] = torch.tensor(x["input_ids"])
        labels[i, :n] = torch.tensor(x["labels"])
        mask[i, :n] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def response_nll(model, batch) -> tuple[float, int]:
    """Summed negative log-likelihood of the labelled (reply) tokens, and how many there are."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    targets = batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), targets.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return float(loss), int((targets != -100).sum())


def perplexity(model, items: Sequence[dict], pad_id: int, batch_size: int = 8, progress: bool = False, desc: str = "perplexity") -> float:
    """exp(mean NLL) over every reply token of `items`."""
    import torch
    from tqdm.auto import tqdm

    if not items:
        return float("nan")
    order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for first in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not progress):
            batch = collate([items[i] for i in order[first: first + batch_size]], pad_id)
            nll, n = response_nll(model, batch)
            total, count = total + nll, count + n
    model.train(was_training)
    return math.exp(total / max(count, 1))
