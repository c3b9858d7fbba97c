"""Reader latency on CPU: reading the top 3 retrieved passages of a question in one batch.

    python bench/reader.py [--model DIR] [--passages 3] [--repeats 5] [--threads N]

Questions are the sample store's; their top passages come from a fresh index of the sample store
through the real retriever. Each question's passages are read `--repeats` times, int8 and fp32 (the
default: int8 cost 4.5 F1). Retrieval is not timed. Last line: JSON with p50/p95 milliseconds per question.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: F401  (the offline environment)
from core.settings import SAMPLE_STORE, Settings  # noqa: E402
from knowledge_base.indexes import KnowledgeBase  # noqa: E402
from knowledge_base.ingest import Ingestor  # noqa: E402
from knowledge_base.retriever import HybridRetriever  # noqa: E402
from models.embedder import SentenceTransformerEmbedder  # noqa: E402
from models.reader import DEFAULT_READER, ExtractiveReader  # noqa: E402

QUESTIONS = [
    "How many days do I have to return an item?",
    "Do you ship to Canada?",
    "How long does a refund take?",
    "Can I change my shipping address after ordering?",
    "What payment methods do you accept?",
    "How long is the warranty on electronics?",
    "How do I reset my password?",
    "Can I return a gift without a receipt?",
    "How much does express shipping cost?",
    "Do you sell helicopters?",
    "Can I pay in instalments?",
    "What happens if my parcel is lost?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_READER, help="reader checkpoint (default: the shipped one)")
    parser.add_argument("--passages", type=int, default=3, help="passages read per question (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed reads per question (default 5)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings.load()
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        Ingestor(Path(tmp), embedder, progress=False).ingest_paths([SAMPLE_STORE])
        retriever = HybridRetriever(KnowledgeBase.load(Path(tmp)), embedder, dense_weight=settings.dense_weight)
        work = [(q, [r.passage.text for r in hits]) for q, hits in zip(QUESTIONS, retriever.retrieve_many(QUESTIONS, top_k=args.passages))]
    result: dict = {"passages": args.passages, "questions": len(QUESTIONS), "repeats": args.repeats, "threads": torch.get_num_threads()}
    for label, quantize in (("int8", True), ("fp32", False)):
        reader = ExtractiveReader(args.model, quantize=quantize, max_seq_length=settings.reader_max_seq_length)
        reader.warm_up()
        for question, passages in work[:3]:
            reader.run(question, passages)  # first calls allocate
        timings = []
        for _ in range(args.repeats):
            for question, passages in work:
                started = time.perf_counter()
                reader.run(question, passages)
                timings.append(1000 * (time.perf_counter() - started))
        result[label] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(percentile(timings, 0.95), 1),
            "mean_tokens_per_passage": round(
                statistics.mean(len(reader.tokenizer(p)["input_ids"]) for _, ps in work for p in ps), 1
            ),
        }
    shipped = "int8" if settings.reader_quantize else "fp32"  # the top-level figures are the configured reader's
    result["default"] = shipped
    result["p50_ms"], result["p95_ms"] = result[shipped]["p50_ms"], result[shipped]["p95_ms"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
