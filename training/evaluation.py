"""Measurements printed by `python -m bot eval ...`: each ends with one JSON line."""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from core.settings import Settings
from knowledge_base.indexes import KnowledgeBase
from knowledge_base.ingest import Ingestor
from knowledge_base.retriever import HybridRetriever
from knowledge_base.squad import load_squad, paragraph_doc_id
from models.embedder import embedder_from_settings
from models.multilingual_embedder import passage_embedder_from_settings

RECALL_AT = (1, 3, 5, 10)


@contextmanager
def squad_open_index(settings: Settings, squad_file: Path, corpus_files: Sequence[Path], index_dir: Path | None, progress: bool):
    """Every paragraph of `squad_file` and `corpus_files` indexed through the ingestion path (in a
    temporary folder unless `index_dir` is given): yields (retriever, ingest report, paragraph count)."""
    documents, _ = load_squad(squad_file)
    for extra in corpus_files:
        more, _ = load_squad(extra)
        documents += more
    embedder = passage_embedder_from_settings(settings, embedder_from_settings(settings))
    with tempfile.TemporaryDirectory(prefix="squad-open-") as tmp:
        target = Path(index_dir) if index_dir else Path(tmp)
        report = Ingestor(target, embedder, progress=progress).ingest_documents(documents)
        kb = KnowledgeBase.load(target)
        yield HybridRetriever(kb, embedder, dense_weight=settings.dense_weight, candidates=settings.retrieval_candidates,
                              space_dense_weights={"zh": settings.chinese_dense_weight}), report, len(documents)


def evaluate_retrieval(
    settings: Settings,
    squad_file: Path,
    corpus_files: Sequence[Path] = (),
    index_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """SQuAD-open: index every paragraph of every file, ask each question of `squad_file` over all of them.

    A question counts as found at k when a passage of its own paragraph is among the top k passages.
    Unanswerable SQuAD 2.0 questions are skipped: they have no gold paragraph to find.
    """
    _, questions = load_squad(squad_file)
    questions = [q for q in questions if not q.is_impossible and q.question.strip()]
    with squad_open_index(settings, squad_file, corpus_files, index_dir, progress) as (retriever, report, paragraphs):
        hits = {k: 0 for k in RECALL_AT}
        started = time.perf_counter()
        batch = 256
        for start in tqdm(range(0, len(questions), batch), desc="retrieving", unit="batch", disable=not progress):
            chunk = questions[start : start + batch]
            results = retriever.retrieve_many([q.question for q in chunk], top_k=max(RECALL_AT))
            for question, retrieved in zip(chunk, results):
                doc_ids = [r.passage.doc_id for r in retrieved]
                for k in RECALL_AT:
                    hits[k] += question.doc_id in doc_ids[:k]
        elapsed = time.perf_counter() - started
    n = len(questions)
    return {
        "n": n,
        **{f"recall@{k}": round(hits[k] / n, 4) if n else 0.0 for k in RECALL_AT},
        "paragraphs": paragraphs,
        "passages": report.passages_total,
        "embedder": retriever.embedder.model_name,
        "dense_weight": settings.dense_weight,
        "ingest_passages_per_second": round(report.passages_per_second, 1),
        "queries_per_second": round(n / elapsed, 1) if elapsed else 0.0,
    }


def evaluate_reader(
    reader,
    examples: Sequence,
    *,
    with_no_answer: bool | None = None,
    no_answer_margin: float = 0.0,
    batch_questions: int = 16,
    progress: bool = True,
) -> dict:
    """Each question read against its own paragraph (SQuAD's closed setting), scored the official way.

    `examples` are `training.reader.QAExample`s. With no-answer questions in the set (SQuAD 2.0),
    the reader abstains when its no-answer score beats its best span by more than `no_answer_margin`.
    """
    from training.squad_metrics import aggregate, score

    with_no_answer = any(e.is_impossible for e in examples) if with_no_answer is None else with_no_answer
    rows = []
    margins = []  # (no-answer score minus best span score, F1 if answered, F1 if abstained)
    started = time.perf_counter()
    for first in tqdm(range(0, len(examples), batch_questions), desc="reading", unit="batch", disable=not progress):
        chunk = examples[first: first + batch_questions]
        results = reader.run_many([(e.question, [e.context]) for e in chunk], top_k=1)
        for example, result in zip(chunk, results):
            golds = [text for text, _ in example.answers]
            prediction = abstaining_prediction(result, no_answer_margin if with_no_answer else None)
            exact, f1 = score(prediction, golds)
            rows.append((exact, f1, not example.is_impossible))
            if with_no_answer:
                best = result.best
                margins.append((result.no_answer_score - best.score if best else np.inf,
                                score(best.text, golds)[1] if best else 0.0, score("", golds)[1]))
    report = aggregate(rows, with_no_answer)
    if margins:
        # As the official SQuAD 2.0 script's best_f1: the abstention margin that would have scored best here.
        report["best_f1"], report["best_f1_margin"] = best_margin(margins)
    report["questions_per_second"] = round(len(rows) / (time.perf_counter() - started), 1) if rows else 0.0
    return report


def best_margin(margins: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """(best F1 in percent, the no-answer margin reaching it) over every margin that changes a decision."""
    candidates = sorted({m for m, _, _ in margins if np.isfinite(m)})
    best = (-1.0, 0.0)
    for margin in [min(candidates, default=0.0) - 1.0, *candidates]:
        total = sum(answered if m <= margin else abstained for m, answered, abstained in margins)
        f1 = round(100 * total / len(margins), 2)
        if f1 > best[0]:
            best = (f1, round(margin, 3))
    return best


def abstaining_prediction(result, no_answer_margin: float | None) -> str:
    """The answer text, or "" when the reader abstains (never, when `no_answer_margin` is None)."""
    best = result.best
    if best is None:
        return ""
    if no_answer_margin is not None and result.no_answer_score - best.score > no_answer_margin:
        return ""
    return best.text


CALIBRATION_THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def evaluate_end_to_end(
    settings: Settings,
    squad_file: Path,
    corpus_files: Sequence[Path] = (),
    *,
    model_dir: Path | None = None,
    held_out: bool = False,
    top_k: int | None = None,
    index_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """SQuAD-open with the reader: index every paragraph, retrieve each question's top passages, read them.

    Prints the SQuAD fields for the best answer (abstaining on SQuAD 2.0 files the way `eval reader`
    does) and a calibration table of the bot's ladder: for each confidence threshold, how many
    answerable questions would be answered and how well (mean F1), and how many unanswerable ones
    would wrongly get an answer.
    """
    from models.reader import reader_from_settings
    from training.reader import held_out_examples, load_qa_examples
    from training.squad_metrics import aggregate, score

    reader = reader_from_settings(settings, model_dir=model_dir)
    reader.warm_up()
    top_k = top_k or settings.reader_passages
    examples = load_qa_examples(squad_file)
    if held_out:
        examples = held_out_examples(reader.model_dir, examples)
    with_no_answer = any(e.is_impossible for e in examples)
    rows, confidences, found = [], [], 0
    with squad_open_index(settings, squad_file, corpus_files, index_dir, progress) as (retriever, _report, _paragraphs):
        started = time.perf_counter()
        batch = 16
        for first in tqdm(range(0, len(examples), batch), desc="retrieving and reading", unit="batch", disable=not progress):
            chunk = examples[first: first + batch]
            retrieved = retriever.retrieve_many([e.question for e in chunk], top_k=top_k)
            results = reader.run_many([(e.question, [r.passage.text for r in hits]) for e, hits in zip(chunk, retrieved)], top_k=1)
            for example, hits, result in zip(chunk, retrieved, results):
                found += paragraph_doc_id(example.context) in {r.passage.doc_id for r in hits}
                prediction = abstaining_prediction(result, settings.reader_no_answer_margin if with_no_answer else None)
                exact, f1 = score(prediction, [text for text, _ in example.answers])
                rows.append((exact, f1, not example.is_impossible))
                best = result.best
                # For the ladder: the best span's confidence and F1 whatever the abstention rule says.
                span_f1 = score(best.text, [t for t, _ in example.answers])[1] if best and example.answers else 0.0
                confidences.append((best.confidence if best else 0.0, span_f1, example.is_impossible))
        elapsed = time.perf_counter() - started
    report = aggregate(rows, with_no_answer)
    report["top_k"] = top_k
    report["gold_passage_retrieved"] = round(found / len(examples), 4) if examples else 0.0
    report["questions_per_second"] = round(len(examples) / elapsed, 1) if elapsed else 0.0
    report["calibration"] = ladder_calibration(confidences)
    report["model"] = str(reader.model_dir)
    return report


def ladder_calibration(rows: Sequence[tuple[float, float, bool]], thresholds: Sequence[float] = CALIBRATION_THRESHOLDS) -> list[dict]:
    """rows: (confidence, F1 of the best span, unanswerable) → per threshold: share of answerable questions
    answered, their mean F1, and share of unanswerable questions that would wrongly be answered."""
    answerable = [r for r in rows if not r[2]]
    unanswerable = [r for r in rows if r[2]]
    table = []
    for t in thresholds:
        answered = [r for r in answerable if r[0] >= t]
        table.append({
            "threshold": t,
            "answered": round(len(answered) / len(answerable), 4) if answerable else 0.0,
            "answered_f1": round(100 * sum(r[1] for r in answered) / len(answered), 2) if answered else 0.0,
            "unanswerable_answered": round(sum(r[0] >= t for r in unanswerable) / len(unanswerable), 4) if unanswerable else None,
        })
    return table
