"""F1 and speed of the reader's runtimes on every held-out SQuAD v1.1 question, over our retriever.

    python bench/reader_runtimes.py [--squad ../shared/data/squad/squad-v1.1-dev-shared.json]
                                    [--runtimes onnx onnx-int8] [--questions N]

The corpus and questions are bench/compare_haystack.py's (the paragraphs of the articles held out
from the reader's training) but all of their answerable questions (2,107), not a sample of 120:
on 120 questions one or two answers move F1 by 1-2 points, too coarse to tell whether a runtime
keeps F1 within half a point. Every question's top 3 passages come from the configured retriever
(and embedder runtime, `BOT_EMBEDDER_RUNTIME`) once; each reader runtime then reads all of them in
batches of 16 questions, as the server's micro-batcher forms them. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_haystack import DEFAULT_SQUAD, OurSide, load_work, scores  # noqa: E402
from core.settings import RUNTIMES, Settings  # noqa: E402
from models.reader import reader_from_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=["onnx", "onnx-int8"])
    parser.add_argument("--questions", type=int, default=100_000, help="at most this many (an evenly spaced sample)")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    settings = Settings.load()
    documents, questions = load_work(args.squad, args.questions)
    texts = [q.question for q in questions]
    print(f"{len(documents)} paragraphs, {len(questions)} questions", file=sys.stderr)
    ours = OurSide(settings)
    ours.ingest(documents)
    retrieved = ours.retriever.retrieve_many(texts, top_k=3)
    items = [(q, [sp.passage.text for sp in r]) for q, r in zip(texts, retrieved, strict=True)]
    result = {"questions": len(texts), "embedder_runtime": getattr(ours.embedder, "runtime", "torch")}
    for runtime in args.runtimes:
        reader = reader_from_settings(settings.replace(reader_runtime=runtime))
        reader.warm_up()
        reader.run_many(items[:4], top_k=1)
        started = time.perf_counter()
        answers = []
        for first in range(0, len(items), args.batch):
            answers += [r.best.text if r.best is not None else "" for r in reader.run_many(items[first: first + args.batch], top_k=1)]
        seconds = time.perf_counter() - started
        result[runtime] = {"served_by": reader.runtime, "questions_per_s": round(len(items) / seconds, 1), **scores(answers, questions)}
        print(json.dumps({runtime: result[runtime]}), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
