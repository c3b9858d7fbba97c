"""LoRA fine-tuning of the generator: data building, the held-out split, a few real training steps
on the tiny Llama of conftest.py, the saved adapter, resuming, and the perplexity evaluation."""

from __future__ import annotations

import csv
import json
import random

import pytest
from safetensors import safe_open

from answering.grounding import check_fallback, check_recommendation
from answering.prompts import FALLBACK_SYSTEM, RECOMMEND_SYSTEM, SUPPORT_SYSTEM
from core.errors import BadRequest
from models.generator import CausalLMGenerator
from training import lm as lm_training
from training import lm_data
from training.lm import LMTrainingConfig, evaluate_lm, train_lm
from training.lm_data import (
    BitextRow,
    build_examples,
    encode_example,
    fallback_example,
    fill_placeholders,
    load_bitext_responses,
    load_catalog,
    recommendation_examples,
    split_rows,
    support_example,
)

RESPONSES = {
    "cancel_order": "I'd be glad to help you cancel your order. Please share your order number and our support team will help.",
    "get_refund": "I'm sorry for the trouble. Please share your order number and our support team will look at your refund.",
    "contact_human_agent": "Thanks for reaching out. I'll connect you with our support team right away.",
}
MESSAGES = ["please {} now", "i want to {}", "how do i {}", "can you help me {}", "{} asap", "need to {} today", "help {}",
            "could you {} for me", "{}?", "i would like to {}"]
VERBS = {"cancel_order": "cancel my order {}", "get_refund": "get a refund for order {}", "contact_human_agent": "talk to a person about {}"}


def write_bitext(path, n_per_intent: int = 20) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["instruction", "intent", "category", "response"])
        writer.writeheader()
        for intent, response in RESPONSES.items():
            for i in range(n_per_intent):
                message = MESSAGES[i % len(MESSAGES)].format(VERBS[intent].format(1000 + i))
                variant = response + ("", " Thank you!", " Have a nice day.", " We're here to help.", " Thanks for your patience.")[i % 5]
                writer.writerow({"instruction": message, "intent": intent, "category": "ORDER", "response": variant})


def write_catalog(path) -> None:
    rows = [
        ("NW-LAP-0001", "Corvid Go 14 Laptop", "Laptops", "549.00", "16"),
        ("NW-LAP-0002", "Corvid Go 16 Laptop", "Laptops", "699.00", "4"),
        ("NW-LAP-0003", "Meridian Studio Laptop", "Laptops", "1899.00", "2"),
        ("NW-BOK-0001", "Trail Cooking Book", "Books", "19.00", "30"),
        ("NW-BOK-0002", "Night Sky Atlas", "Books", "32.00", "0"),
        ("NW-BOK-0003", "Knots for Campers", "Books", "12.00", "8"),
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "title", "category", "price", "currency", "stock", "attributes", "description"])
        for sku, title, category, price, stock in rows:
            writer.writerow([sku, title, category, price, "USD", stock, "{}", ""])


@pytest.fixture
def data(tmp_path):
    bitext, catalog = tmp_path / "bitext.csv", tmp_path / "catalog.csv"
    write_bitext(bitext)
    write_catalog(catalog)
    return bitext, catalog


# ---------------------------------------------------------------- data


def test_placeholders_become_neutral_words():
    assert fill_placeholders("Call {{Customer Support Phone Number}} or use {{Live Chat}} on {{Website Name}}.") == \
        "Call our customer support phone line or use live chat on our website."
    assert fill_placeholders("Your order {{Order Number}} ({{Order Number Anonymized}})") == "Your order your order number (your order number)"
    assert fill_placeholders("Ref {{370795561790}}.") == "Ref your reference number."
    assert fill_placeholders("Open {{Order History}}.") == "Open Order History."  # a UI name stays


@pytest.mark.parametrize("on", ["response", "instruction"])
def test_the_split_is_stable_and_disjoint(data, on):
    rows = load_bitext_responses(data[0])
    train, held = split_rows(rows, 0.3, on)
    assert len(train) + len(held) == len(rows) and held and train
    key = (lambda r: r.response) if on == "response" else (lambda r: r.instruction)
    assert not {key(r) for r in train} & {key(r) for r in held}  # no held-out response is trained on
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    assert {key(r) for r in split_rows(shuffled, 0.3, on)[1]} == {key(r) for r in held}


def test_a_file_without_responses_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("instruction,intent\nhello,greet\n")
    with pytest.raises(BadRequest, match="missing column"):
        load_bitext_responses(bad)
    with pytest.raises(BadRequest, match="not found"):
        load_bitext_responses(tmp_path / "missing.csv")


def test_examples_use_the_run_time_prompts(data):
    row = BitextRow("cancel order 5", "cancel_order", "ORDER", "Call {{Customer Support Phone Number}}.")
    support = support_example(row)
    assert support.messages == (("system", SUPPORT_SYSTEM), ("user", "cancel order 5"))
    assert support.response == "Call our customer support phone line."
    fallback = fallback_example(row, random.Random(0))
    assert fallback.messages[0] == ("system", FALLBACK_SYSTEM)
    products = load_catalog(data[1])
    recommendation = recommendation_examples(products, 5, random.Random(0))[0]
    assert recommendation.messages[0] == ("system", RECOMMEND_SYSTEM)


def test_every_fallback_target_passes_the_fallback_check():
    rng = random.Random(0)
    for intent in lm_data.FALLBACK_TOPICS:
        for _ in range(5):
            example = fallback_example(BitextRow("x", intent, "", "y"), rng)
            assert check_fallback(example.response).ok, (example.response, check_fallback(example.response).problems)


def test_every_recommendation_target_names_only_its_candidates(data):
    products = load_catalog(data[1])
    examples = recommendation_examples(products, 40, random.Random(0))
    assert len(examples) == 40
    for example in examples:
        prompt = example.messages[1][1]
        request = prompt.splitlines()[0].removeprefix("Request: ")
        candidates = [p for p in products if f"(SKU {p.sku})" in prompt]
        assert candidates and all(p.stock > 0 for p in candidates)
        # The target is the introduction alone: the product lines are printed from the catalog.
        result = check_recommendation(example.response, candidates, products, request=request, partial=True)
        assert result.ok, (example.response, result.problems)
        assert "SKU" not in example.response and "\n" not in example.response
        assert example.response.rstrip().endswith(":")


def test_the_training_mix(data):
    train, _ = split_rows(load_bitext_responses(data[0]), 0.3)
    examples = build_examples(train, load_catalog(data[1]), support=10, fallback=4, recommendation=3, seed=1)
    assert [sum(e.kind == k for e in examples) for k in ("support", "fallback", "recommendation")] == [10, 4, 3]


def test_the_loss_is_on_the_reply_only(tiny_llama_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    example = support_example(BitextRow("cancel my order", "cancel_order", "", "Sure, I can help."))
    item = encode_example(tokenizer, example, 256)
    reply = [t for t in item["labels"] if t != -100]
    assert tokenizer.decode(reply) == "Sure, I can help.<|im_end|>"
    assert item["labels"][: len(item["labels"]) - len(reply)] == [-100] * (len(item["labels"]) - len(reply))
    assert tokenizer.decode(item["input_ids"]).endswith("<|im_start|>assistant\nSure, I can help.<|im_end|>")
    assert encode_example(tokenizer, example, 10) is None  # the prompt alone does not fit


# ---------------------------------------------------------------- training and evaluation

CONFIG = LMTrainingConfig(rank=4, alpha=8, dropout=0.0, learning_rate=2e-2, batch_size=4, max_steps=24, warmup_fraction=0.0,
                          fallback_examples=8, recommendation_examples=6, holdout_fraction=0.3, eval_limit=None, checkpoint_every=6)


def test_a_few_lora_steps_lower_the_loss_and_ship_a_small_adapter(data, tiny_llama_dir, tmp_path):
    bitext, catalog = data
    out = tmp_path / "lm"
    meta = train_lm(bitext, out, catalog=catalog, base=tiny_llama_dir, config=CONFIG, progress=False, command="test")
    assert meta["steps"] == 24 and not meta["stopped_early"]
    assert meta["history"][-1]["loss"] < meta["history"][0]["loss"]
    held = meta["held_out"]
    assert held["n"] > 0 and held["perplexity_tuned"] < held["perplexity_base"]
    assert meta["examples"]["fallback"] == 8 and meta["examples"]["recommendation"] == 6
    assert {p.name for p in out.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "lm.json"}
    assert json.loads((out / "lm.json").read_text())["command"] == "test"
    assert 0 < meta["adapter_bytes"] < 200_000
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as weights:
        assert all(weights.get_tensor(k).dtype.is_floating_point and weights.get_tensor(k).element_size() == 2 for k in weights.keys())

    # The evaluation command's figures: held-out rows of the training file, every row of another one.
    figures = evaluate_lm(bitext, out, base=tiny_llama_dir, progress=False)
    assert {"n", "perplexity_base", "perplexity_tuned"} <= figures.keys()
    assert figures["rows"] == "held_out" and figures["n"] == held["n"]
    assert figures["perplexity_tuned"] == pytest.approx(held["perplexity_tuned"], rel=1e-3)
    other = tmp_path / "other.csv"
    write_bitext(other, n_per_intent=4)
    assert evaluate_lm(other, out, base=tiny_llama_dir, progress=False)["rows"] == "all"

    # The generator loads the adapter; with it turned off it is the base model.
    plain = CausalLMGenerator(tiny_llama_dir, max_new_tokens=8).generate("cancel my order").text
    tuned = CausalLMGenerator(tiny_llama_dir, adapter=out, max_new_tokens=8)
    assert tuned.generate("cancel my order", use_adapter=False).text == plain
    assert tuned.has_adapter


def test_training_resumes_from_its_checkpoint(data, tiny_llama_dir, tmp_path, monkeypatch):
    bitext, catalog = data
    out = tmp_path / "lm"
    config = LMTrainingConfig(**{**CONFIG.__dict__, "max_steps": 6, "checkpoint_every": 3})
    real = lm_training.perplexity
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(kwargs.get("desc", args[-1] if len(args) > 5 else ""))
        if len(calls) == 2:  # the evaluation after training: as if the machine stopped there
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_training, "perplexity", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_lm(bitext, out, catalog=catalog, base=tiny_llama_dir, config=config, progress=False)
    assert json.loads((out / "work" / "state.json").read_text())["step"] == 6
    calls.clear()
    monkeypatch.setattr(lm_training, "perplexity", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    meta = train_lm(bitext, out, catalog=catalog, base=tiny_llama_dir, config=config, progress=False)
    assert meta["steps"] == 6 and len(calls) == 1  # no step retrained, the base figure kept from the first run
    assert not (out / "work").exists()


def test_a_time_budget_stops_training_and_still_ships(data, tiny_llama_dir, tmp_path):
    bitext, catalog = data
    config = LMTrainingConfig(**{**CONFIG.__dict__, "max_steps": 50, "max_minutes": 0.0})
    meta = train_lm(bitext, tmp_path / "lm", catalog=catalog, base=tiny_llama_dir, config=config, progress=False)
    assert meta["stopped_early"] and meta["steps"] == 1
    assert (tmp_path / "lm" / "adapter_model.safetensors").is_file()


def test_gpt2_trains_too(data, tiny_gpt2_dir, tmp_path):
    bitext, catalog = data
    config = LMTrainingConfig(**{**CONFIG.__dict__, "max_steps": 2})
    meta = train_lm(bitext, tmp_path / "lm", catalog=catalog, base=tiny_gpt2_dir, config=config, progress=False)
    assert meta["steps"] == 2
    adapter = json.loads((tmp_path / "lm" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"c_attn", "c_proj", "c_fc"}
    assert CausalLMGenerator(tiny_gpt2_dir, adapter=tmp_path / "lm", max_new_tokens=4).generate("hi").new_tokens >= 1
