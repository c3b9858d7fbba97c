"""Command line: `python -m bot {serve,actions,ingest,eval,train} ...` (see README.md)."""

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
  python -m bot actions                               Rasa action server on http://127.0.0.1:5055/webhook
  python -m bot eval retrieval --squad FILE           measure retrieval on a SQuAD-format file
  python -m bot train intents --bitext FILE --out DIR train the intent classifier
  python -m bot eval intents --bitext FILE            measure it on a Bitext-format CSV
  python -m bot eval entities --bitext FILE           order-number extraction against labelled spans

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

    actions = sub.add_parser(
        "actions",
        help="run the Rasa action server (knowledge base, recommendations, handoff)",
        description="Serve action_answer_from_knowledge_base, action_recommend_products and action_handoff_to_human "
        "to a Rasa assistant on rasa-sdk's endpoint (POST /webhook, GET /actions, GET /health); point Rasa's "
        'endpoints.yml at it with action_endpoint: url: "http://localhost:5055/webhook" (see docs/rasa.md).',
    )
    actions.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    actions.add_argument("--port", dest="actions_port", metavar="PORT", type=int, default=5055, help="port (default 5055)")
    actions.add_argument("--ingest-if-missing", action="store_true", help="ingest the configured documents first if there is no index")

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
    intents = ev_sub.add_parser(
        "intents",
        help="intent accuracy, macro F1 and per-intent figures on a Bitext-format CSV",
        description="Classify every message of --bitext and compare with its labelled intent.",
    )
    intents.add_argument("--bitext", type=Path, required=True, help="Bitext-format CSV (instruction, intent, ...)")
    intents.add_argument("--model", type=Path, help="intent model directory (default: the shipped one)")
    intents.add_argument("--held-out", action="store_true", help="only the rows the model held out from training")
    intents.add_argument("--quiet", action="store_true", help="no progress bars")

    entities = ev_sub.add_parser(
        "entities",
        help="order-number extraction precision/recall against a Bitext CSV's order_id spans",
        description="Extract order numbers from every message of --bitext and compare with its labelled order_id spans.",
    )
    entities.add_argument("--bitext", type=Path, required=True, help="Bitext-format CSV with entity_type/entity_value columns")

    train = sub.add_parser("train", help="train a model shipped with the bot")
    train_sub = train.add_subparsers(dest="target", required=True, metavar="TARGET")
    train_intents = train_sub.add_parser(
        "intents",
        help="the intent classifier, from Bitext-format CSV files",
        description="Fit the intent classifier (char n-gram TF-IDF + sentence embedding, softmax) on the rows "
        "outside a stable held-out fraction, report the held-out figures, and write the model to --out.",
    )
    train_intents.add_argument("--bitext", type=Path, nargs="+", required=True, help="Bitext-format CSV file(s)")
    train_intents.add_argument("--out", type=Path, required=True, help="directory to write intents.npz and intents.json to")
    train_intents.add_argument("--holdout", type=float, default=0.2, help="fraction of messages kept out to measure (default 0.2)")
    train_intents.add_argument("--regularization", type=float, default=10.0, help="inverse L2 strength C (default 10)")
    train_intents.add_argument("--quiet", action="store_true", help="no progress bars")
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
        if args.command == "actions":
            from connectors.rasa_actions import serve_actions

            if args.ingest_if_missing:
                ensure_index(settings)
            serve_actions(settings, host=settings.host, port=args.actions_port)
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
        if args.command == "eval" and args.target == "intents":
            print(json.dumps(run_eval_intents(settings, args.bitext, args.model, args.held_out, progress=not args.quiet)))
            return 0
        if args.command == "eval" and args.target == "entities":
            from bot.entities import evaluate_order_numbers
            from models.intents import load_bitext

            print(json.dumps(evaluate_order_numbers(load_bitext(args.bitext))))
            return 0
        if args.command == "train" and args.target == "intents":
            result = run_train_intents(settings, args.bitext, args.out, args.holdout, args.regularization, progress=not args.quiet)
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
    from models.embedder import embedder_from_settings

    return Ingestor(settings.index_dir, embedder_from_settings(settings), progress=progress).ingest_paths(paths)


def run_eval_intents(settings: Settings, bitext: Path, model_dir: Path | None, held_out_only: bool, progress: bool = True) -> dict:
    from models.embedder import embedder_from_settings
    from models.intents import DEFAULT_INTENT_MODEL, IntentModel, evaluate_intents, is_held_out, load_bitext

    model = IntentModel.load(model_dir or settings.intent_model or DEFAULT_INTENT_MODEL)
    examples = load_bitext(bitext)
    if held_out_only:
        fraction = float(model.meta.get("holdout_fraction", 0.0))
        examples = [e for e in examples if is_held_out(e.text, fraction)]
        if not examples:
            raise BotError(f"no row of {bitext} was held out by this model (holdout fraction {fraction})")
    return evaluate_intents(model, embedder_from_settings(settings), examples, progress=progress)


def run_train_intents(settings: Settings, files: list[Path], out: Path, holdout: float, regularization: float, progress: bool = True) -> dict:
    from models.embedder import embedder_from_settings
    from models.intents import evaluate_intents, iter_examples, train_intent_model

    embedder = embedder_from_settings(settings)
    examples = iter_examples(files)
    model, held = train_intent_model(examples, embedder, holdout=holdout, regularization=regularization, progress=progress)
    figures = evaluate_intents(model, embedder, held) if held else {}
    model.meta["held_out_figures"] = {k: v for k, v in figures.items() if k != "per_intent"}
    model.save(out)
    return {"out": str(out), **model.meta, "held_out_evaluation": figures}


def ensure_index(settings: Settings) -> None:
    from knowledge_base.store import PassageStore

    if not PassageStore(settings.index_dir).exists:
        print(f"no index in {settings.index_dir}: ingesting {', '.join(map(str, settings.documents))}", file=sys.stderr)
        run_ingest(settings, list(settings.documents))


if __name__ == "__main__":
    sys.exit(main())
