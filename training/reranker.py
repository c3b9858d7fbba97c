"""Train the cross-encoder reranker (models.reranker).

Pairs of (question, passage) labelled 1 when the passage answers the question:
- SQuAD: a sample of the questions of the articles the reader trained on (its held-out articles stay
  unseen), each with its own paragraph (1) and two other paragraphs of the same article (0: on topic,
  but not the answer, the hard case) and one of another article (0);
- the store question set's train split: each question's retrieved passages, 1 where the passage
  quotes a gold answer; unanswerable questions give only 0s. Repeated `store_repeats` times, as the
  customers' way of asking is what the bot must learn.
It starts from the shipped reader's encoder (already taught to read a question against a passage)
with a fresh one-logit head, and trains with binary cross-entropy, AdamW and linear decay.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from training.reader import QAExample, split_by_title


@dataclass(frozen=True)
class RerankerConfig:
    squad_questions: int = 1500
    store_repeats: int = 2
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 192
    warmup_fraction: float = 0.1
    holdout_fraction: float = 0.2
    seed: int = 13


def squad_pairs(examples: Sequence[QAExample], config: RerankerConfig) -> list[tuple[str, str, float]]:
    train, _ = split_by_title([e for e in examples if not e.is_impossible], config.holdout_fraction)
    rng = random.Random(config.seed)
    by_title: dict[str, list[str]] = {}
    for e in train:
        paragraphs = by_title.setdefault(e.title, [])
        if e.context not in paragraphs:
            paragraphs.append(e.context)
    titles = sorted(by_title)
    pairs = []
    for e in rng.sample(train, min(config.squad_questions, len(train))):
        pairs.append((e.question, e.context, 1.0))
        others = [p for p in by_title[e.title] if p != e.context]
        for negative in rng.sample(others, min(2, len(others))):
            pairs.append((e.question, negative, 0.0))
        elsewhere = by_title[rng.choice([t for t in titles if t != e.title])]
        pairs.append((e.question, rng.choice(elsewhere), 0.0))
    return pairs


def train_reranker(pairs: Sequence[tuple[str, str, float]], base: Path, out: Path, config: RerankerConfig,
                   progress: bool = True) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    # The shipped reader is stored in fp16: train in fp32 (fp16 on a CPU is slow and overflows).
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1).float()
    model.train()
    rng = random.Random(config.seed)
    order = list(pairs) * config.epochs
    rng.shuffle(order)
    # Batches of similar length (shuffled among themselves): little padding, same mix of examples.
    batches = [order[i: i + config.batch_size * 50] for i in range(0, len(order), config.batch_size * 50)]
    chunks = []
    for block in batches:
        block = sorted(block, key=lambda p: len(p[0]) + len(p[1]))
        chunks += [block[i: i + config.batch_size] for i in range(0, len(block), config.batch_size)]
    rng.shuffle(chunks)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * len(chunks)), len(chunks))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started, running = time.perf_counter(), 0.0
    bar = tqdm(chunks, desc="training reranker", unit="batch", disable=not progress)
    for step, chunk in enumerate(bar, 1):
        encoded = tokenizer([p[0] for p in chunk], [p[1] for p in chunk], truncation="longest_first", max_length=config.max_length,
                            padding=True, return_tensors="pt")
        logits = model(**encoded).logits[:, 0]
        loss = loss_fn(logits, torch.tensor([p[2] for p in chunk], dtype=torch.float32))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
        bar.set_postfix(loss=f"{running:.3f}")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    record = {"base": str(base), "config": asdict(config), "pairs": len(pairs), "positives": int(sum(p[2] for p in pairs)),
              "max_length": config.max_length, "minutes": round((time.perf_counter() - started) / 60, 1), "final_loss": round(running, 4)}
    (out / "reranker.json").write_text(json.dumps(record, indent=1) + "\n")
    return record
