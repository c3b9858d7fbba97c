"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by z-scores over the candidate pool."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from core.types import RetrievalFilters, ScoredPassage
from knowledge_base.indexes import KnowledgeBase
from models.embedder import Embedder


class HybridRetriever:
    """Each index proposes `candidates` passages; every candidate gets both scores, each score is
    standardised over the pool, and the weighted sum ranks them.

    Standardising over the pool, rather than fusing ranks, keeps how far ahead a passage is: on
    SQuAD-open (1,790 paragraphs, 9,254 questions) it gave recall@1 0.822 against 0.777 for
    reciprocal-rank fusion, 0.796 for BM25 and 0.625 for MiniLM alone (`python -m bot eval retrieval`).
    """

    def __init__(
        self,
        knowledge_base: KnowledgeBase,
        embedder: Embedder,
        top_k: int = 5,
        dense_weight: float = 0.5,
        candidates: int = 50,
    ) -> None:
        self.kb = knowledge_base
        self.embedder = embedder
        self.top_k = top_k
        self.dense_weight = dense_weight
        self.candidates = candidates
        ids = knowledge_base.sparse.ids
        passages = [knowledge_base.passages[int(i)] for i in ids]
        self._doc_types = np.asarray([p.doc_type for p in passages], dtype=object)
        self._languages = np.asarray([p.language for p in passages], dtype=object)

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def retrieve(
        self, query: str, top_k: int | None = None, filters: RetrievalFilters | None = None
    ) -> list[ScoredPassage]:
        return self.retrieve_many([query], top_k=top_k, filters=filters)[0]

    def retrieve_many(
        self, queries: Sequence[str], top_k: int | None = None, filters: RetrievalFilters | None = None
    ) -> list[list[ScoredPassage]]:
        top_k = top_k or self.top_k
        if not len(self.kb) or not queries:
            return [[] for _ in queries]
        vectors = self.embedder.embed(list(queries))
        mask = self._mask(filters)
        allowed = self.kb.sparse.ids[mask] if mask is not None else None
        if allowed is not None and not len(allowed):
            return [[] for _ in queries]
        n = min(self.candidates, len(self.kb) if allowed is None else len(allowed))
        dense_scores, dense_ids = self.kb.dense.search(vectors, n, allowed)
        return [
            self._fuse(query, vectors[i], dense_ids[i], mask, n, top_k)
            for i, query in enumerate(queries)
        ]

    def _mask(self, filters: RetrievalFilters | None) -> np.ndarray | None:
        if filters is None or (not filters.doc_types and not filters.languages):
            return None
        mask = np.ones(len(self.kb.sparse), dtype=bool)
        if filters.doc_types:
            mask &= np.isin(self._doc_types, list(filters.doc_types))
        if filters.languages:
            mask &= np.isin(self._languages, list(filters.languages))
        return mask

    def _fuse(
        self, query: str, vector: np.ndarray, dense_ids: np.ndarray, mask: np.ndarray | None, n: int, top_k: int
    ) -> list[ScoredPassage]:
        sparse_all = self.kb.sparse.scores(query)
        if mask is not None:
            sparse_all = np.where(mask, sparse_all, -np.inf)
        sparse_top = np.argpartition(-sparse_all, n - 1)[:n] if n < len(sparse_all) else np.arange(len(sparse_all))
        sparse_top = sparse_top[np.isfinite(sparse_all[sparse_top])]
        pool = np.union1d(dense_ids[dense_ids >= 0], self.kb.sparse.ids[sparse_top])
        sparse = sparse_all[self.kb.sparse.positions(pool)]
        dense = self.kb.dense.index.reconstruct_batch(pool) @ vector
        fused = self.dense_weight * _standardise(dense) + (1 - self.dense_weight) * _standardise(sparse)
        order = np.argsort(-fused, kind="stable")[:top_k]
        return [
            ScoredPassage(
                passage=self.kb.passages[int(pool[j])],
                score=float(fused[j]),
                dense_score=float(dense[j]),
                sparse_score=float(sparse[j]),
            )
            for j in order
        ]


def _standardise(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)
