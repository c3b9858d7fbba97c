"""Command line: `python -m bot {serve,ingest,eval} ...` (see README.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import bot  # noqa: F401  (sets the offline environment before any model library is imported)
from bot.errors import BotError
from bot.settings import Settings

DESCRIPTION = """\
Storebot: a customer-service bot that answers from your store's own documents.

  python -m bot ingest knowledge_base/sample_store   index documents (only changes are re-indexed)
  python -m bot serve                                 chat on http://127.0.0.1:8080
  python -m bot eval retrieval --squad FILE           measure retrieval on a SQuAD-format file

Settings come from defaults, then --config FILE (TOML), then BOT_* environment variables
(BOT_DATA_DIR, BOT_PORT, BOT_MIN_CONFIDENCE, ...), then command-line flags.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="TOML settings file (also BOT_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where the index and conversations live (default: ./data)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the dialogue server", description="Run the HTTP/WebSocket dialogue server.")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--ingest-if-missing", action="store_true", help="ingest the configured documents first if there is no index")

    ingest = sub.add_parser(
        "ingest",
        help="index documents: Markdown, HTML, PDF, FAQ CSV, catalog CSV",
        description="Index files and folders. Re-running touches only added, changed and removed documents; "
        "unreadable files are reported and skipped.",
    )
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the configured documents, the sample store)")
    ingest.add_argument("--quiet", action="store_true", help="no progress bars")

    ev = sub.add_parser("eval", help="measure the bot; the last line printed is JSON")
    ev_sub = ev.add_subparsers(dest="target", required=True, metavar="TARGET")
    retrieval = ev_sub.add_parser(
        "retrieval",
        help="SQuAD-open retrieval recall@k",
        description="Index every paragraph of --squad and --corpus files through the ingestion path, retrieve "
        "each question of --squad, and print recall@1/3/5/10.",
    )
    retrieval.add_argument("--squad", type=Path, required=True, help="SQuAD-format JSON whose questions are asked")
    retrieval.add_argument("--corpus", type=Path, action="append", default=[], help="more SQuAD-format files to index (repeatable)")
    retrieval.add_argument("--index-dir", type=Path, help="keep the evaluation index here (default: a temporary folder)")
    retrieval.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.config).replace(
            data_dir=args.data_dir, log_level=args.log_level, host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Libraries' start-up chatter (FAISS probing CPU builds, bm25s internals) is not news to operators.
        for noisy in ("faiss", "faiss.loader", "bm25s", "jieba", "sentence_transformers", "httpx"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
        if args.command == "serve":
            from bot.server import serve

            if args.ingest_if_missing:
                ensure_index(settings)
            serve(settings)
            return 0
        if args.command == "ingest":
            # Skipped files are logged as they happen and listed again in the JSON report.
            report = run_ingest(settings, args.paths or list(settings.documents), progress=not args.quiet)
            print(json.dumps(report.to_dict(), ensure_ascii=False))
            return 0 if not report.failed else 3
        if args.command == "eval" and args.target == "retrieval":
            from bot.evaluation import evaluate_retrieval

            result = evaluate_retrieval(settings, args.squad, args.corpus, args.index_dir, progress=not args.quiet)
            print(json.dumps(result))
            return 0
    except BotError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


def run_ingest(settings: Settings, paths: list[Path], progress: bool = True):
    from knowledge_base.ingest import Ingestor
    from models.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(settings.embedder_model or None, batch_size=settings.embedder_batch_size)
    return Ingestor(settings.index_dir, embedder, progress=progress).ingest_paths(paths)


def ensure_index(settings: Settings) -> None:
    from knowledge_base.store import PassageStore

    if not PassageStore(settings.index_dir).exists:
        print(f"no index in {settings.index_dir}: ingesting {', '.join(map(str, settings.documents))}", file=sys.stderr)
        run_ingest(settings, list(settings.documents))


if __name__ == "__main__":
    sys.exit(main())
