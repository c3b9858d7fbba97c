"""Answer or abstain, on a calibrated probability that the answer is right.

For every English question, each of the top retrieved passages offers candidates: its sentences most
like the question, the passage itself when short, and (with a model fitted with the reader) the
sentence around the reader's span in it. One logistic model, fitted on the store question set's train
split (`python -m bot train answerability`), turns each candidate's evidence (retrieval scores and
their distance to the best, sentence and heading similarity, term overlap, the reader's and the
reranker's scores when fitted with them, the kind of candidate) into the probability that it is
right. The most likely candidate is sent when that probability reaches the threshold chosen on the
validation split; otherwise the customer hears an honest "I'm not sure".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from answering.extractive import NO_KNOWLEDGE, NOT_SURE, ExtractiveAnswerer
from answering.reading import ReadingAnswerer, quote_sentence
from core.errors import BotError
from core.types import AnswerSpan, Passage, Reply
from knowledge_base.text import detect_language, tokenize

FEATURES = ("rank", "fused_score", "score_below_top", "passage_cosine", "sentence_cosine", "heading_cosine", "term_overlap",
            "sentence_overlap", "quote_confidence", "reader_confidence", "reader_no_answer", "reader_top", "is_reader", "is_passage", "is_faq",
            "rerank_score", "rerank_below_top")
DEPTH = 3  # passages whose candidates compete
MAX_WHOLE_PASSAGE_CHARS = 400


@dataclass(frozen=True)
class Candidate:
    """One possible answer (a passage's best sentences, the short passage whole, or the sentence around
    the reader's span in it) and its evidence, in FEATURES order."""

    reply: Reply
    features: np.ndarray


class AnswerabilityError(BotError):
    http_status = 500


@dataclass(frozen=True)
class LogisticModel:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 200) -> "LogisticModel":
        """L2-regularised logistic regression by Newton's method on standardised features."""
        mean = x.mean(axis=0)
        scale = np.where(x.std(axis=0) > 1e-6, x.std(axis=0), 1.0)
        z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
        w = np.zeros(z.shape[1])
        penalty = np.diag([l2] * (z.shape[1] - 1) + [0.0])
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(z @ w)))
            gradient = z.T @ (p - y) + penalty @ w
            hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty + 1e-6 * np.eye(len(w))
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(tuple(map(float, w[:-1])), float(w[-1]), tuple(map(float, mean)), tuple(map(float, scale)))


@dataclass(frozen=True)
class AnswerabilityModel:
    models: dict[str, LogisticModel]
    threshold: float
    meta: dict[str, Any]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"features": FEATURES, "threshold": self.threshold, "meta": self.meta,
                   "models": {k: m.__dict__ for k, m in self.models.items()}}
        (directory / "answerability.json").write_text(json.dumps(payload, indent=1) + "\n")

    @classmethod
    def load(cls, directory: Path) -> "AnswerabilityModel":
        path = Path(directory) / "answerability.json"
        try:
            payload = json.loads(path.read_text())
            if tuple(payload["features"]) != FEATURES:
                raise AnswerabilityError(f"{path} was fitted on other features ({payload['features']}); refit it")
            models = {k: LogisticModel(tuple(m["weights"]), m["bias"], tuple(m["mean"]), tuple(m["scale"]))
                      for k, m in payload["models"].items()}
            return cls(models, float(payload["threshold"]), payload.get("meta", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AnswerabilityError(f"cannot load the answerability model at {path}: {exc}") from None


def _kind_of(candidate: Candidate) -> str:
    if candidate.features[FEATURES.index("is_reader")]:
        return "reader"
    return "passage" if candidate.features[FEATURES.index("is_passage")] else "quote"


class CalibratedAnswerer:
    """Retrieve → each passage's candidates → each one's calibrated probability of being right → the
    most likely one if it clears the threshold, else "I'm not sure"."""

    def __init__(self, quoting: ExtractiveAnswerer, reading: ReadingAnswerer | None, model: AnswerabilityModel,
                 languages: Sequence[str] = ("en",), depth: int = DEPTH, reranker=None) -> None:
        self.quoting = quoting
        self.reading = reading
        self.reranker = reranker  # models.reranker.CrossEncoderReranker, or None
        self.model = model
        self.languages = tuple(languages)
        self.depth = depth
        self._headings: dict[int, np.ndarray] = {}

    @property
    def retriever(self):
        return self.quoting.retriever

    @property
    def embedder(self):
        return self.quoting.embedder

    def warm_up(self) -> None:
        (self.reading or self.quoting).warm_up()
        if self.reranker is not None:
            self.reranker.warm_up()

    def answer(self, question: str) -> Reply:
        return self.answer_many([question])[0]

    def _heading_vectors(self, passages: Sequence[Passage]) -> None:
        missing = {p.passage_id: " > ".join(p.title_path) for p in passages if p.passage_id not in self._headings}
        if missing:
            for pid, vector in zip(missing, self.embedder.embed(list(missing.values()))):
                self._headings[pid] = vector

    def candidates(self, questions: Sequence[str]) -> list[list[Candidate]]:
        """Every question's candidates, best retrieved passage first."""
        languages = [detect_language(q) for q in questions]
        retrieved = self.quoting.retrieve(questions, languages, self.depth)
        q_vectors = self.embedder.embed(list(questions))
        passages = [sp.passage for found in retrieved for sp in found]
        sentences = iter(self.quoting.sentences(passages))
        self._heading_vectors(passages)
        results: list[Any] = [None] * len(questions)
        if self.reading is not None:
            results = self.reading.reader.run_many([(q, [sp.passage.text for sp in found]) for q, found in zip(questions, retrieved)], top_k=12)
        reranked = [np.zeros(len(found)) for found in retrieved]
        if self.reranker is not None:
            # The passage text as the reranker was trained on it (without the heading path).
            pairs = [(q, sp.passage.text) for q, found in zip(questions, retrieved) for sp in found]
            flat, offset = self.reranker.score(pairs), 0
            for i, found in enumerate(retrieved):
                reranked[i], offset = flat[offset: offset + len(found)], offset + len(found)
        out = []
        for i, question in enumerate(questions):
            found, result = retrieved[i], results[i]
            rerank_top = float(reranked[i].max()) if len(found) else 0.0
            q_terms = set(tokenize(question))
            top_score = found[0].score if found else 0.0
            reader_top = result.best.passage_index if result is not None and result.best else -1
            candidates = []
            for rank, sp in enumerate(found):
                group, vectors = next(sentences)
                sims = vectors @ q_vectors[i]
                quoted = self.quoting.quote(question, languages[i], sp, group, sims, found, 0.0)
                heading = float(self._headings[sp.passage.passage_id] @ q_vectors[i])
                overlap = len(q_terms & set(tokenize(sp.passage.indexed_text()))) / max(1, len(q_terms))
                span = next((a for a in result.answers if a.passage_index == rank), None) if result is not None else None
                base = [rank, sp.score, top_score - sp.score, sp.dense_score or 0.0, float(sims.max()), heading, overlap]
                reader = [span.confidence if span else 0.0, result.no_answer_probability if result is not None else 1.0,
                          float(reader_top == rank)]
                faq = float(sp.passage.doc_type == "faq")

                # (reply, is_reader, is_passage): what this passage offers.
                offers: list[tuple[Reply, float, float]] = [(quoted, 0.0, 0.0)]
                whole = " ".join(sp.passage.text.split())
                if len(whole) <= MAX_WHOLE_PASSAGE_CHARS and whole != quoted.text and sp.passage.doc_type != "product":
                    # A short passage quoted whole: longer than one sentence, but it holds what it says.
                    offers.append((quoted.with_text(whole), 0.0, 1.0))
                if span is not None:
                    text = quote_sentence(sp.passage.text, span.start, span.end)
                    if text and text not in quoted.text:
                        offers.append((Reply(text, quoted.sources, span.confidence, "answer", quoted.metadata,
                                             AnswerSpan(span.text, span.start, span.end, span.confidence)), 1.0, 0.0))
                rerank = [float(reranked[i][rank]), rerank_top - float(reranked[i][rank])]
                for reply, is_reader, is_passage in offers:
                    s_overlap = len(q_terms & set(tokenize(reply.text))) / max(1, len(q_terms))
                    features = base + [s_overlap, quoted.confidence] + reader + [is_reader, is_passage, faq] + rerank
                    candidates.append(Candidate(reply, np.array(features)))
            out.append(candidates)
        return out

    def answer_many(self, questions: Sequence[str]) -> list[Reply]:
        if not questions:
            return []
        replies: list[Reply | None] = [None] * len(questions)
        own = [i for i, q in enumerate(questions) if detect_language(q) in self.languages]
        others = [i for i in range(len(questions)) if i not in set(own)]
        for i, reply in zip(others, self.quoting.answer_many([questions[i] for i in others])):
            replies[i] = reply
        for i, found in zip(own, self.candidates([questions[i] for i in own])):
            replies[i] = self.decide(found)
        return replies  # type: ignore[return-value]

    def decide(self, found: Sequence[Candidate]) -> Reply:
        if not found:
            return Reply(NO_KNOWLEDGE["en"], kind="not_sure")
        model = self.model.models.get("candidate")
        p = model.probability(np.stack([c.features for c in found])) if model is not None else np.zeros(len(found))
        best = int(np.argmax(p))
        chosen, probability = found[best].reply, float(p[best])
        metadata = {**chosen.metadata, "answerability": round(probability, 4), "answered_by": _kind_of(found[best])}
        if probability < self.model.threshold or not math.isfinite(probability):
            return Reply(NOT_SURE["en"], confidence=probability, kind="not_sure", metadata=metadata)
        return Reply(chosen.text, chosen.sources, probability, "answer", metadata, chosen.answer_span)
