"""Extractive answers: the best passage's most relevant sentences, cited, with a confidence.

This is the answer path until the trained reader lands: it never writes text of its own, it
quotes the store's documents, and below `min_confidence` it says it is not sure instead of guessing.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.types import Passage, Reply, RetrievalFilters, ScoredPassage, Source
from knowledge_base.retriever import HybridRetriever
from knowledge_base.text import detect_language, split_sentences, tokenize
from models.embedder import Embedder

log = logging.getLogger(__name__)

NOT_SURE = {
    "en": "I'm not sure I found the right answer to that. Could you rephrase your question? "
    "I can help with returns, refunds, shipping, payment, order changes, warranty and your account.",
    "zh": "抱歉，我不确定是否找到了正确的答案。能换一种方式描述您的问题吗？我可以解答退货、退款、配送、付款、保修和账户等方面的问题。",
}
NO_KNOWLEDGE = {
    "en": "I don't have any store documents to answer from yet.",
    "zh": "目前还没有可用于回答的商店文档。",
}


@dataclass(frozen=True, slots=True)
class Confidence:
    """Maps the best passage's retrieval evidence to [0, 1].

    The dense cosine between question and passage is the main signal (MiniLM cosines of 0.55+ are
    on-topic, below 0.3 unrelated); the cosine of the best sentence sharpens it; BM25 term overlap
    backs up languages MiniLM reads poorly (Chinese). Calibrated on the sample store's questions in
    tests/integration/test_answering.py: answerable questions land above 0.6, off-topic ones below 0.35.
    """

    midpoint: float = 0.42
    steepness: float = 12.0

    def __call__(self, passage_cosine: float, sentence_cosine: float, term_overlap: float, language: str) -> float:
        evidence = 0.5 * passage_cosine + 0.5 * sentence_cosine
        if language == "zh":
            evidence = max(evidence, 0.3 + 0.3 * term_overlap)
        return 1.0 / (1.0 + math.exp(-self.steepness * (evidence - self.midpoint)))


class ExtractiveAnswerer:
    def __init__(
        self,
        retriever: HybridRetriever,
        embedder: Embedder,
        min_confidence: float = 0.45,
        max_sentences: int = 2,
        top_k: int = 5,
        confidence: Confidence | None = None,
        rerank_depth: int = 3,
        sentence_cache_size: int = 20_000,
    ) -> None:
        self.rerank_depth = rerank_depth
        self.sentence_cache_size = sentence_cache_size
        self._sentence_cache: dict[int, tuple[list[str], np.ndarray]] = {}
        self._cache_lock = threading.Lock()
        self.retriever = retriever
        self.embedder = embedder
        self.min_confidence = min_confidence
        self.max_sentences = max_sentences
        self.top_k = top_k
        self.confidence = confidence or Confidence()
        self._languages = {p.language for p in retriever.kb.passages.values()}

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def answer(self, question: str) -> Reply:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[str], min_confidence: float | None = None) -> list[Reply]:
        """Answer a batch: one embedding pass for the questions, one for all candidate sentences.
        `min_confidence` (default: the configured one) 0 returns every best candidate as an answer."""
        if not questions:
            return []
        languages = [detect_language(q) for q in questions]
        retrieved = self.retrieve(questions, languages, self.top_k)
        # Sentences of the first few passages are embedded in one batch; the passage whose evidence
        # (its own cosine and its best sentence's) is strongest is the one the answer quotes.
        candidates = [r[: self.rerank_depth] for r in retrieved]
        q_vectors = self.embedder.embed(list(questions))
        sentences = iter(self.sentences([sp.passage for c in candidates for sp in c]))
        replies: list[Reply] = []
        for i, question in enumerate(questions):
            language = languages[i]
            scored = []
            for sp in candidates[i]:
                group, vectors = next(sentences)
                sims = vectors @ q_vectors[i]
                scored.append((0.5 * (sp.dense_score or 0.0) + 0.5 * float(sims.max()), sp, group, sims))
            if not scored:
                replies.append(Reply(NO_KNOWLEDGE.get(language, NO_KNOWLEDGE["en"]), kind="not_sure"))
                continue
            _, top, group, sims = max(scored, key=lambda item: item[0])
            replies.append(self.quote(question, language, top, group, sims, retrieved[i], min_confidence))
        return replies

    def retrieve(self, questions: Sequence[str], languages: Sequence[str], top_k: int) -> list[list[ScoredPassage]]:
        """Each question's top passages, in its own language when the store has passages in it."""
        return retrieve_in_language(self.retriever, questions, languages, self._languages, top_k)

    def sentences(self, passages: Sequence[Passage]) -> list[tuple[list[str], np.ndarray]]:
        """Each passage's sentences and their vectors (embedded in one batch where not cached yet)."""
        self._embed_sentences(passages)
        with self._cache_lock:
            return [self._sentence_cache[p.passage_id] for p in passages]

    def quote_passage(self, question: str, passage: Passage) -> Reply:
        """The sentences of one given passage that answer the question (a product the customer named),
        with the same confidence as a retrieved one: a passage that does not say it is not quoted."""
        language = detect_language(question)
        (group, vectors), = self.sentences([passage])
        q_vector, p_vector = self.embedder.embed([question, passage.indexed_text()])
        sims = vectors @ q_vector
        if passage.doc_type == "product":
            # "Title (SKU ...), Category." and "Price: ...; 3 in stock." name the product; they answer
            # nothing else (its fields are answered from the catalog before this).
            sims = np.where([("(SKU " in s or s.startswith("Price:")) for s in group], -1.0, sims)
        scored = ScoredPassage(passage, 1.0, dense_score=float(p_vector @ q_vector))
        return self.quote(question, language, scored, group, sims, [scored])

    def warm_up_sentences(self, cache_file: Path | None = None, batch_size: int = 256) -> int:
        """Embed the sentences of every passage now, so no customer waits for a first look at a
        passage. `cache_file` (an .npz next to the index, named by its generation) keeps them across
        restarts; a missing, stale or unreadable file is rebuilt. Returns how many passages."""
        passages = list(self.retriever.kb.passages.values())[: self.sentence_cache_size]
        if cache_file is not None and cache_file.is_file():
            try:
                with np.load(cache_file, allow_pickle=False) as saved:
                    ids, counts, vectors = saved["passage_ids"], saved["counts"], saved["vectors"]
                groups = {p.passage_id: split_sentences(p.text) or [p.text] for p in passages}
                offsets = np.concatenate([[0], np.cumsum(counts)])
                loaded = {}
                for pid, count, first in zip(ids.tolist(), counts.tolist(), offsets[:-1].tolist()):
                    if pid in groups and len(groups[pid]) == count:
                        loaded[pid] = (groups[pid], vectors[first: first + count])
                with self._cache_lock:
                    self._sentence_cache.update(loaded)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("sentence vectors at %s unreadable (%s); rebuilding", cache_file, exc)
        missing = [p for p in passages if p.passage_id not in self._sentence_cache]
        for first in range(0, len(missing), batch_size):
            self._embed_sentences(missing[first: first + batch_size])
        if cache_file is not None and missing:
            with self._cache_lock:
                cached = [(pid, group, vectors) for pid, (group, vectors) in self._sentence_cache.items()]
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                partial = cache_file.with_name(cache_file.name + ".tmp")
                with partial.open("wb") as fh:
                    np.savez(fh, passage_ids=np.array([c[0] for c in cached], dtype=np.int64),
                             counts=np.array([len(c[1]) for c in cached], dtype=np.int64),
                             vectors=np.concatenate([c[2] for c in cached]).astype(np.float32))
                partial.replace(cache_file)
                for old in cache_file.parent.glob("sentence-vectors-*.npz"):
                    if old != cache_file:  # an earlier generation's
                        old.unlink(missing_ok=True)
            except OSError as exc:  # a full disk costs the next start a rebuild, nothing more
                log.warning("could not save sentence vectors to %s: %s", cache_file, exc)
        return len(passages)

    def _embed_sentences(self, passages: Sequence[Passage]) -> None:
        """Embed the sentences of passages not seen before, in one batch.

        Passages are immutable within an index snapshot, and customers ask about the same few
        policies again and again, so sentence vectors are cached per passage (bounded, oldest out).
        """
        missing = {p.passage_id: p for p in passages if p.passage_id not in self._sentence_cache}
        if not missing:
            return
        groups = {pid: split_sentences(p.text) or [p.text] for pid, p in missing.items()}
        flat = [s for group in groups.values() for s in group]
        vectors = self.embedder.embed(flat)
        offset = 0
        with self._cache_lock:
            for pid, group in groups.items():
                self._sentence_cache[pid] = (group, vectors[offset : offset + len(group)])
                offset += len(group)
            while len(self._sentence_cache) > self.sentence_cache_size:
                self._sentence_cache.pop(next(iter(self._sentence_cache)))

    def quote(
        self, question: str, language: str, top: ScoredPassage, sentences: list[str], sims: np.ndarray, retrieved: list[ScoredPassage],
        min_confidence: float | None = None,
    ) -> Reply:
        q_terms = set(tokenize(question))
        overlap = [len(q_terms & set(tokenize(s))) / max(1, len(q_terms)) for s in sentences]
        # Sentence relevance: meaning first, shared terms to break ties between near-paraphrases.
        relevance = sims + 0.15 * np.asarray(overlap)
        best = int(np.argmax(relevance))
        chosen = sorted(
            [j for j in np.argsort(-relevance)[: self.max_sentences] if relevance[j] >= 0.85 * relevance[best]]
        )
        passage_overlap = len(q_terms & set(tokenize(top.passage.indexed_text()))) / max(1, len(q_terms))
        confidence = self.confidence(top.dense_score or 0.0, float(sims[best]), passage_overlap, language)
        source = Source(
            document=top.passage.doc_id,
            title=top.passage.title,
            passage=top.passage.text,
            score=top.score,
            title_path=top.passage.title_path,
        )
        metadata = {
            "passage_cosine": round(float(top.dense_score or 0.0), 3),
            "sentence_cosine": round(float(sims[best]), 3),
            "candidates": [
                {"document": r.passage.doc_id, "section": " > ".join(r.passage.title_path), "score": round(r.score, 3)}
                for r in retrieved
            ],
        }
        if confidence < (self.min_confidence if min_confidence is None else min_confidence):
            return Reply(NOT_SURE.get(language, NOT_SURE["en"]), confidence=confidence, kind="not_sure", metadata=metadata)
        text = _join_sentences([sentences[j].lstrip("- ").strip() for j in _with_list_items(chosen, sentences)], language)
        return Reply(text, sources=(source,), confidence=confidence, kind="answer", metadata=metadata)


def retrieve_in_language(
    retriever: HybridRetriever, questions: Sequence[str], languages: Sequence[str], indexed_languages: set[str], top_k: int
) -> list[list[ScoredPassage]]:
    """Each question's top passages, in one retrieval batch per language.

    Passages in the customer's language are preferred; when the store has none in that language,
    all passages compete."""
    retrieved: list[list[ScoredPassage]] = [[] for _ in questions]
    by_language: dict[str, list[int]] = {}
    for i, language in enumerate(languages):
        by_language.setdefault(language, []).append(i)
    for language, indices in by_language.items():
        filters = RetrievalFilters(languages=(language,)) if language in indexed_languages else None
        for i, result in zip(indices, retriever.retrieve_many([questions[i] for i in indices], top_k=top_k, filters=filters)):
            retrieved[i] = result
    return retrieved


MAX_LIST_ITEMS = 5


def _with_list_items(chosen: list[int], sentences: list[str]) -> list[int]:
    """A sentence that introduces a list ("In some cases we can only issue a partial refund:") says
    nothing alone: its items come with it."""
    out: list[int] = []
    for j in chosen:
        out.append(j)
        if sentences[j].rstrip().endswith(":"):
            out += range(j + 1, min(j + 1 + MAX_LIST_ITEMS, len(sentences)))
    return sorted(set(out))


def _join_sentences(sentences: list[str], language: str) -> str:
    return ("" if language == "zh" else " ").join(sentences)
