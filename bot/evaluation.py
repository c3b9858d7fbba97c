"""Measurements printed by `python -m bot eval ...`: each ends with one JSON line."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from bot.settings import Settings
from knowledge_base.indexes import KnowledgeBase
from knowledge_base.ingest import Ingestor
from knowledge_base.retriever import HybridRetriever
from knowledge_base.squad import load_squad
from models.embedder import embedder_from_settings

RECALL_AT = (1, 3, 5, 10)


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
    documents, questions = load_squad(squad_file)
    for extra in corpus_files:
        more, _ = load_squad(extra)
        documents += more
    questions = [q for q in questions if not q.is_impossible and q.question.strip()]
    embedder = embedder_from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="squad-open-") as tmp:
        target = Path(index_dir) if index_dir else Path(tmp)
        report = Ingestor(target, embedder, progress=progress).ingest_documents(documents)
        kb = KnowledgeBase.load(target)
        retriever = HybridRetriever(kb, embedder, dense_weight=settings.dense_weight, candidates=settings.retrieval_candidates)
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
        "paragraphs": len(documents),
        "passages": report.passages_total,
        "embedder": embedder.model_name,
        "dense_weight": settings.dense_weight,
        "ingest_passages_per_second": round(report.passages_per_second, 1),
        "queries_per_second": round(n / elapsed, 1) if elapsed else 0.0,
    }
