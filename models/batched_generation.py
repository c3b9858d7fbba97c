"""Continuous batching for the causal LM: concurrent generations share every forward pass.

On CPU a decoding step of a 135M model is bound by memory bandwidth (every weight is read once per
step), so stepping eight streams together costs little more than stepping one. One engine thread
owns the model: a new request is prefilled on its own (reusing the cached prompt head), its key/value
cache is joined to the running batch (left-padded to a common length, padding masked out), and each
step feeds the last token of every active stream with its own position. A stream that ends, is
cancelled or is dropped by its reader leaves the batch at the next step; nothing waits on a reader.

Rows of one batch share the adapter state (a LoRA adapter on or off for all of them): a request
that wants the other state waits until the batch drains. Caches other than plain dynamic layers
(sliding windows, recurrent states) cannot be joined this way; `CausalLMGenerator` then decodes
one stream at a time, as before.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from models.generator import CausalLMGenerator

log = logging.getLogger(__name__)

_DONE = object()  # a stream's last item on its queue


@dataclass(eq=False, slots=True)
class _Request:
    ids: list[int]
    head: int
    limit: int
    temperature: float
    top_p: float
    use_adapter: bool
    cancel: threading.Event | None
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    dropped: threading.Event = field(default_factory=threading.Event)  # the reader stopped reading
    generated: list[int] = field(default_factory=list)
    length: int = 0  # real (unpadded) tokens in this row's cache
    rng: object = None

    def stopped(self) -> bool:
        return self.dropped.is_set() or (self.cancel is not None and self.cancel.is_set())


def batchable(cache) -> bool:
    """Can caches like this one be joined and split along the batch dimension?"""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class BatchedDecoding:
    """The engine: `submit` a prompt, read its tokens from the returned iterator (from any thread)."""

    def __init__(self, generator: "CausalLMGenerator", max_batch: int = 8) -> None:
        self.generator = generator
        self.max_batch = max(1, max_batch)
        self._waiting: list[_Request] = []
        self._wake = threading.Condition()
        self._rows: list[_Request] = []
        self._cache = None
        self._mask = None  # [rows, cached tokens]: 1 for a real token, 0 for left padding
        self._adapter: contextlib.ExitStack | None = None
        self._batch_uses_adapter: bool | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.steps = 0  # forward passes over the batch (for tests and the bench)
        self.widest = 0  # the most rows stepped together so far

    # ------------------------------------------------------------------ the reader's side

    def submit(self, ids: list[int], head: int, limit: int, temperature: float, top_p: float, use_adapter: bool,
               cancel: threading.Event | None = None) -> Iterator[int]:
        request = _Request(ids, head, limit, temperature, top_p, use_adapter, cancel)
        with self._wake:
            if self._closed:
                raise RuntimeError("the generation engine is closed")
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="batched-generation", daemon=True)
                self._thread.start()
            self._wake.notify()
        return self._read(request)

    @staticmethod
    def _read(request: _Request) -> Iterator[int]:
        try:
            while True:
                item = request.out.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.dropped.set()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    # ------------------------------------------------------------------ the engine thread

    def _run(self) -> None:
        import torch

        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self._rows:
                    self._wake.wait()
                if self._closed:
                    for request in self._waiting + self._rows:
                        request.out.put(RuntimeError("the generation engine is closed"))
                    self._waiting.clear()
                    self._rows.clear()
                    return
                admitted = self._admissible()
            with self.generator._lock, torch.inference_mode():
                try:
                    for request in admitted:
                        self._admit(request)
                    if self._rows:
                        self._step()
                except Exception as exc:  # noqa: BLE001 - every stream in the batch learns why it ended
                    log.exception("batched generation failed")
                    for request in self._rows + [r for r in admitted if r not in self._rows]:
                        request.out.put(exc)
                    self._reset()
                if not self._rows:
                    self._reset()  # leaves the adapter state, inside the model's lock

    def _admissible(self) -> list[_Request]:
        """Waiting requests that may join now (under `_wake`): same adapter state, up to the batch size."""
        admitted: list[_Request] = []
        wanted = self._batch_uses_adapter
        for request in list(self._waiting):
            if len(self._rows) + len(admitted) >= self.max_batch:
                break
            if request.stopped():
                self._waiting.remove(request)
                request.out.put(_DONE)
                continue
            if wanted is None:
                wanted = request.use_adapter
            if request.use_adapter == wanted:
                self._waiting.remove(request)
                admitted.append(request)
        return admitted

    def _admit(self, request: _Request) -> None:
        """Prefill one request on its own and join its cache to the batch."""
        generator = self.generator
        if self._batch_uses_adapter is None:
            self._adapter = contextlib.ExitStack()
            self._adapter.enter_context(generator._adapter_state(request.use_adapter))
            self._batch_uses_adapter = request.use_adapter
        request.rng = generator._rng(request.temperature)
        past, done = generator._cached_head(request.ids, request.head, request.use_adapter)
        logits, past = generator._forward(request.ids[done:], past, keep_last=True)
        request.length = len(request.ids)
        if not self._emit(request, logits):
            return
        if not batchable(past):
            raise RuntimeError(f"{type(past).__name__} caches cannot be batched")
        self._join(request, past)

    def _emit(self, request: _Request, logits) -> bool:
        """Choose and hand over the row's next token; False when the row is finished."""
        if request.stopped():
            request.out.put(_DONE)
            return False
        token = self.generator._choose(logits, request.generated, request.temperature, request.top_p, request.rng)
        request.generated.append(token)
        request.out.put(token)
        if token in self.generator._stop_ids or len(request.generated) >= request.limit:
            request.out.put(_DONE)
            return False
        return True

    def _join(self, request: _Request, past) -> None:
        import torch

        mask = torch.ones((1, request.length), dtype=torch.long, device=self.generator.device)
        if self._cache is None:
            self._cache, self._mask, self._rows = past, mask, [request]
            return
        width = max(self._mask.shape[1], mask.shape[1])
        self._mask = torch.cat([_left_pad(self._mask, width, dim=1), _left_pad(mask, width, dim=1)])
        for ours, theirs in zip(self._cache.layers, past.layers, strict=True):
            ours.keys = torch.cat([_left_pad(ours.keys, width, dim=2), _left_pad(theirs.keys, width, dim=2)])
            ours.values = torch.cat([_left_pad(ours.values, width, dim=2), _left_pad(theirs.values, width, dim=2)])
        self._rows.append(request)

    def _step(self) -> None:
        """One forward pass for every active row, then each row's next token."""
        import torch

        rows = self._rows
        device = self.generator.device
        self._mask = torch.cat([self._mask, torch.ones((len(rows), 1), dtype=self._mask.dtype, device=device)], dim=1)
        kwargs = {"logits_to_keep": 1} if self.generator._keep_logits else {}
        output = self.generator.model(
            input_ids=torch.tensor([[r.generated[-1]] for r in rows], device=device),
            position_ids=torch.tensor([[r.length] for r in rows], device=device),
            attention_mask=self._mask, past_key_values=self._cache, use_cache=True, **kwargs)
        self._cache = output.past_key_values
        self.steps += 1
        self.widest = max(self.widest, len(rows))
        logits = output.logits[:, -1].float()
        keep: list[int] = []
        for index, request in enumerate(rows):
            request.length += 1
            if self._emit(request, logits[index]):
                keep.append(index)
        if len(keep) < len(rows):
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        """Keep only these rows, and drop the padding columns no remaining row needs."""
        import torch

        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, device=self.generator.device)
        self._rows = [self._rows[i] for i in keep]
        mask = self._mask.index_select(0, index)
        first = int((mask.sum(dim=0) > 0).nonzero()[0])
        self._mask = mask[:, first:]
        for layer in self._cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]

    def _reset(self) -> None:
        self._rows, self._cache, self._mask = [], None, None
        self._batch_uses_adapter = None
        if self._adapter is not None:
            adapter, self._adapter = self._adapter, None
            adapter.close()


def _left_pad(tensor, width: int, dim: int):
    import torch

    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)
