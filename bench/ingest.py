"""Ingestion throughput: a fresh index of the sample store (and optionally SQuAD paragraphs).

    python bench/ingest.py [--squad FILE] [--runtime onnx-int8 onnx torch]

Last line: JSON {"documents", "passages", "seconds", "passages_per_second", ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: F401  (the offline environment)
from core.settings import RUNTIMES, SAMPLE_STORE  # noqa: E402
from knowledge_base.ingest import Ingestor  # noqa: E402
from models.embedder import SentenceTransformerEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--squad", type=Path, help="also ingest the paragraphs of a SQuAD-format file")
    parser.add_argument("--runtime", nargs="+", choices=RUNTIMES, default=["onnx-int8"],
                        help="embedder runtimes to measure, one after the other (default: onnx-int8, the configured one)")
    args = parser.parse_args()
    results = {runtime: measure(args, runtime) for runtime in args.runtime}
    out = dict(results[args.runtime[0]])
    if len(results) > 1:
        out["by_runtime"] = results
    print(json.dumps(out))


def measure(args, runtime: str) -> dict:
    embedder = SentenceTransformerEmbedder(runtime=runtime)
    embedder.warm_up()  # model loading (and a first ONNX export) is start-up cost, not ingestion throughput
    result: dict = {"runtime": embedder.runtime}
    with tempfile.TemporaryDirectory() as tmp:
        report = Ingestor(Path(tmp), embedder, progress=False).ingest_paths([SAMPLE_STORE])
        result["sample_store"] = {
            "documents": len(report.added),
            "passages": report.passages_written,
            "seconds": round(report.seconds, 2),
            "passages_per_second": round(report.passages_per_second, 1),
        }
        started = time.perf_counter()
        again = Ingestor(Path(tmp), embedder, progress=False).ingest_paths([SAMPLE_STORE])
        result["sample_store"]["reingest_unchanged_seconds"] = round(time.perf_counter() - started, 2)
        assert again.passages_written == 0
    if args.squad:
        from knowledge_base.squad import load_squad

        documents, _ = load_squad(args.squad)
        with tempfile.TemporaryDirectory() as tmp:
            report = Ingestor(Path(tmp), embedder, progress=False).ingest_documents(documents)
            result["squad"] = {
                "documents": len(documents),
                "passages": report.passages_written,
                "seconds": round(report.seconds, 2),
                "passages_per_second": round(report.passages_per_second, 1),
            }
    result["passages_per_second"] = result["sample_store"]["passages_per_second"]
    return result


if __name__ == "__main__":
    main()
