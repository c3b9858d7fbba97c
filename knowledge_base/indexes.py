"""The two indexes over the passages: FAISS (dense) and BM25 (sparse), and the snapshot that holds both."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.types import Passage
from knowledge_base.store import PassageStore
from knowledge_base.text import tokenize

log = logging.getLogger(__name__)


def _faiss():
    import faiss

    return faiss


def gpu_available() -> bool:
    try:
        return hasattr(_faiss(), "StandardGpuResources") and _faiss().get_num_gpus() > 0
    except Exception:
        return False


class DenseIndex:
    """Exact inner-product search (cosine on unit vectors) keyed by passage id.

    IndexIDMap2 over IndexFlatIP supports deleting ids, so an edited document replaces its own
    passages without a rebuild. When faiss-gpu and a GPU are present, searches run on the GPU copy.
    """

    FILENAME = "dense.faiss"

    def __init__(self, dimension: int, use_gpu: bool | None = None) -> None:
        faiss = _faiss()
        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._use_gpu = gpu_available() if use_gpu is None else use_gpu
        self._gpu_index = None

    @property
    def on_gpu(self) -> bool:
        return self._gpu_index is not None

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self._gpu_index = None

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self._gpu_index = None

    def finalize(self) -> None:
        """Mirror the index onto the GPU once all writes are done."""
        if self._use_gpu and len(self):
            faiss = _faiss()
            try:
                self._gpu_res = faiss.StandardGpuResources()
                self._gpu_index = faiss.index_cpu_to_gpu(self._gpu_res, 0, self.index)
                log.info("dense index on GPU (%d vectors)", len(self))
            except Exception as exc:  # a GPU build without a usable device: search on the CPU
                log.warning("FAISS GPU unavailable (%s); searching on CPU", exc)
                self._gpu_index = None

    def search(self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; ids are -1 where fewer than k passages qualify."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if allowed_ids is not None:
            faiss = _faiss()
            # Filtering happens inside the search (an ID selector), so a filter never starves top-k.
            selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
            return self.index.search(queries, k, params=params)
        return (self._gpu_index or self.index).search(queries, k)

    def save(self, path: Path, generation: int) -> None:
        """Write atomically: a crash mid-write leaves the previous file, which load() then rejects as stale."""
        faiss = _faiss()
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        path.with_suffix(".generation").write_text(str(generation))

    @classmethod
    def load_or_rebuild(cls, index_dir: Path, store: PassageStore, dimension: int) -> "DenseIndex":
        path = index_dir / cls.FILENAME
        stamp = path.with_suffix(".generation")
        dense = cls(dimension)
        generation = store.generation
        if path.is_file() and stamp.is_file() and stamp.read_text().strip() == str(generation):
            try:
                dense.index = _faiss().read_index(str(path))
                if dense.index.d == dimension:
                    dense.finalize()
                    return dense
            except RuntimeError as exc:
                log.warning("FAISS cache %s unreadable (%s); rebuilding from the passage store", path, exc)
        ids, vectors = store.embeddings(dimension)
        dense = cls(dimension)
        dense.add(ids, vectors)
        try:
            dense.save(path, generation)
        except OSError as exc:  # a read-only or full disk costs the cache, not the service
            log.warning("could not write FAISS cache %s: %s", path, exc)
        dense.finalize()
        return dense


class SparseIndex:
    """BM25 (bm25s) over stemmed English and jieba-segmented Chinese tokens.

    BM25's statistics are corpus-wide, so it is rebuilt from the passage store on load: for tens of
    thousands of passages that takes about a second, and it can never disagree with the store.
    """

    def __init__(self, passages: Sequence[Passage], k1: float = 0.9, b: float = 0.75) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG on import, overriding the operator's log level.
        logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
        self.ids = np.asarray([p.passage_id for p in passages], dtype=np.int64)
        self._position = {int(pid): i for i, pid in enumerate(self.ids)}
        self.bm25 = bm25s.BM25(k1=k1, b=b)
        if len(passages):
            self.bm25.index([tokenize(p.indexed_text()) or ["\x00"] for p in passages], show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage, aligned with self.ids."""
        tokens = tokenize(query)
        if not tokens or not len(self.ids):
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray([self._position[int(i)] for i in ids], dtype=np.int64)


@dataclass
class KnowledgeBase:
    """A read-only snapshot of the index: passages, dense and sparse indexes, loaded together."""

    passages: dict[int, Passage]
    dense: DenseIndex
    sparse: SparseIndex
    embedder_name: str
    generation: int

    @classmethod
    def load(cls, index_dir: Path, expected_dimension: int | None = None) -> "KnowledgeBase":
        store = PassageStore(index_dir).open()
        try:
            dimension = int(store.meta("dimension") or expected_dimension or 0)
            if expected_dimension and dimension != expected_dimension:
                from core.errors import ConfigurationError

                raise ConfigurationError(
                    f"index at {index_dir} was built with a {dimension}-dimension embedder "
                    f"({store.meta('embedder')}); the configured one has {expected_dimension}: re-run ingest",
                    path=str(index_dir),
                )
            passages = store.passages()
            dense = DenseIndex.load_or_rebuild(Path(index_dir), store, dimension)
            return cls(
                passages={p.passage_id: p for p in passages},
                dense=dense,
                sparse=SparseIndex(passages),
                embedder_name=store.meta("embedder") or "",
                generation=store.generation,
            )
        finally:
            store.close()

    def __len__(self) -> int:
        return len(self.passages)
