"""`python -m bot eval store`: a labelled store question set through the real dialogue, over HTTP.

Each question is a new REST conversation (follow-ups ask their earlier turns first, in the same
conversation) sent to a real server: the one at `--url`, or one started here from the same settings
`serve` uses, on a copy of the index in a temporary data folder (its conversations are thrown
away). The in-process server's REST channel gets a one-off token, so each question's sender is a
known integration's, and its rate limits are off: one client asking hundreds of questions is the
point of the exercise, not an attack.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import aiohttp
from aiohttp import web
from tqdm.auto import tqdm

from core.settings import Settings
from training.store_eval import (
    QuestionSetError,
    StoreQuestion,
    check_questions,
    load_questions,
    score_reply,
    store_sections,
    summarise,
)

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent / "knowledge_base" / "sample_store" / "eval"
REPLY_TIMEOUT_S = 120.0


def question_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths or [DEFAULT_QUESTIONS]:
        path = Path(path)
        if path.is_dir():
            files += sorted(path.glob("*.jsonl"))
        elif path.is_file():
            files.append(path)
        else:
            raise QuestionSetError(f"no such question file or folder: {path}")
    if not files:
        raise QuestionSetError(f"no .jsonl question files in {', '.join(map(str, paths))}")
    return files


async def ask(session: aiohttp.ClientSession, url: str, token: str, sender: str, text: str) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT_S)) as response:
        if response.status != 200:
            return None
        messages = await response.json()
    if not messages:
        return {"kind": "silent", "text": ""}
    first = messages[0]
    return {"text": "\n".join(m.get("text", "") for m in messages), **first.get("custom", {})}


async def run_questions(questions: Sequence[StoreQuestion], url: str, token: str, concurrency: int, progress: bool,
                        run_id: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in questions]
    gate = asyncio.Semaphore(max(1, concurrency))
    bar = tqdm(total=len(questions), desc="asking", unit="question", disable=not progress, file=sys.stderr)

    async def one(index: int, question: StoreQuestion, session: aiohttp.ClientSession) -> None:
        async with gate:
            sender = f"eval-{run_id}-{question.question_id}"
            reply: dict[str, Any] | None = None
            try:
                for turn in question.turns:
                    reply = await ask(session, url, token, sender, turn)
                    if reply is None:
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError):
                reply = None
            outcome = score_reply(question, reply)
            sources = (reply or {}).get("sources") or []
            results[index] = {
                "id": question.question_id, "split": question.split, "kind": question.kind, "outcome": outcome,
                "question": question.question, "gold": list(question.answers), "gold_source": question.source,
                "reply_kind": (reply or {}).get("kind"), "reply": (reply or {}).get("text"),
                "confidence": (reply or {}).get("confidence"), "route": (reply or {}).get("route"),
                "source": sources[0].get("document") if sources else None,
            }
            bar.update()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(i, q, session) for i, q in enumerate(questions)))
    bar.close()
    return results


async def _with_local_server(settings: Settings, questions: Sequence[StoreQuestion], concurrency: int, progress: bool) -> list[dict]:
    from bot.server import create_app

    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="storebot-eval-") as tmp:
        local = settings.replace(data_dir=Path(tmp), database="", store_database="", rest_auth_token=token,
                                 rate_limit_per_minute=0.0, client_rate_limit_per_minute=0.0)
        if settings.index_dir.exists():
            shutil.copytree(settings.index_dir, local.index_dir)
        from bot.assembly import ensure_index

        ensure_index(local)
        runner = web.AppRunner(create_app(local), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            return await run_questions(questions, f"http://127.0.0.1:{port}", token, concurrency, progress, secrets.token_hex(3))
        finally:
            await runner.cleanup()


def run_eval_store(settings: Settings, args) -> dict[str, Any]:
    questions = load_questions(question_files(args.questions))
    if args.check:
        problems = check_questions(questions, store_sections(Path(args.store)))
        for problem in problems:
            print(problem, file=sys.stderr)
        return {"questions": len(questions), "problems": len(problems)}
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    if args.limit:
        questions = questions[: args.limit]
    if not questions:
        raise QuestionSetError("no questions to ask")
    if args.url:
        results = asyncio.run(run_questions(questions, args.url.rstrip("/"), args.token or "", args.concurrency,
                                            not args.quiet, secrets.token_hex(3)))
    else:
        results = asyncio.run(_with_local_server(settings, questions, args.concurrency, not args.quiet))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    outcomes = [(q, r["outcome"]) for q, r in zip(questions, results)]
    return {"questions": len(questions), "split": args.split, **summarise(outcomes)}


def add_parser(ev_sub) -> None:
    store = ev_sub.add_parser(
        "store",
        help="a labelled store question set through the real dialogue: accuracy, wrong-and-confident, abstention",
        description="Ask every question of --questions (JSONL; default: the sample store's eval/ folder) through the "
        "real dialogue over HTTP and print accuracy, wrong-and-confident rate and abstention, overall, per split "
        "(train/validation by document section) and per topic. --check only verifies the gold quotes.",
    )
    store.add_argument("--questions", type=Path, action="append", default=[], help="JSONL file or folder of them (repeatable)")
    store.add_argument("--split", choices=("all", "train", "validation"), default="all", help="which questions (default all)")
    store.add_argument("--url", help="ask a running server instead of starting one (e.g. http://127.0.0.1:8080)")
    store.add_argument("--token", help="that server's BOT_REST_AUTH_TOKEN, if it has one")
    store.add_argument("--concurrency", type=int, default=4, help="conversations at once (default 4)")
    store.add_argument("--limit", type=int, help="only the first N questions")
    store.add_argument("--out", type=Path, help="write each question's reply and outcome here (JSONL)")
    store.add_argument("--check", action="store_true", help="only check the gold answers are quoted in --store's documents")
    store.add_argument("--store", type=Path, default=DEFAULT_QUESTIONS.parent, help="store folder for --check (default: the sample store)")
    store.add_argument("--quiet", action="store_true", help="no progress bars")


def run_train_answerability(settings: Settings, args) -> dict[str, Any]:
    """Fit the answer-or-abstain model on the question set's train split, its threshold on validation."""
    from answering.answerability import AnswerabilityModel, CalibratedAnswerer
    from answering.products import ProductFactsFirst
    from answering.reading import ReadingAnswerer
    from bot.assembly import build_answerer, ensure_index
    from training.answerability import fit_answerability

    ensure_index(settings)
    built, _ = build_answerer(settings.replace(reader_enabled=args.with_reader, answerability_model="off"))
    facts = built.facts if isinstance(built, ProductFactsFirst) else None
    inner = built.inner if isinstance(built, ProductFactsFirst) else built
    reading = inner if isinstance(inner, ReadingAnswerer) else None
    quoting = reading.quoting if reading is not None else inner
    questions = [q for q in load_questions(question_files(args.questions)) if q.kind != "follow_up"]
    # Questions the catalog answers never reach the model.
    if facts is not None:
        questions = [q for q in questions if facts.lookup(q.question) is None]
    reranker = None
    if args.with_reranker:
        from models.reranker import DEFAULT_RERANKER, CrossEncoderReranker

        reranker = CrossEncoderReranker(settings.reranker_model or DEFAULT_RERANKER)
        reranker.warm_up()
    answerer = CalibratedAnswerer(quoting, reading, AnswerabilityModel({}, 1.0, {}), reranker=reranker)
    model, report = fit_answerability(answerer, [q for q in questions if q.split == "train"],
                                      [q for q in questions if q.split == "validation"],
                                      max_wrong=args.max_wrong, progress=not args.quiet)
    model.meta.update(reader=reading is not None, reranker=reranker is not None)
    model.save(args.out)
    return {"out": str(args.out), **report}


def add_train_parser(train_sub) -> None:
    fit = train_sub.add_parser(
        "answerability",
        help="fit the answer-or-abstain model on a store question set (train split; threshold on validation)",
        description="Build every single-turn question's candidates (per retrieved passage: its best sentences, the "
        "passage itself when short, and with --with-reader the reader's sentence; --with-reranker adds its scores), fit one logistic model on the "
        "train split, and choose the threshold on the validation split for at most --max-wrong wrong-and-confident "
        "answers. The defaults reproduce the shipped model.",
    )
    fit.add_argument("--questions", type=Path, action="append", default=[], help="JSONL file or folder (default: the sample store's eval/)")
    fit.add_argument("--out", type=Path, default=Path("models/checkpoints/answerability"), help="where to write answerability.json")
    fit.add_argument("--max-wrong", type=float, default=0.2, help="wrong-and-confident share allowed on validation (default 0.2)")
    fit.add_argument("--with-reader", action="store_true", help="the reader's spans as candidates and evidence too (measured no better)")
    fit.add_argument("--with-reranker", action="store_true", help="the cross-encoder reranker's scores too (measured no better; "
                     "needs `train reranker` first)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")


def run_train_reranker(settings: Settings, args) -> dict[str, Any]:
    """SQuAD pairs and the store set's train split (its retrieved passages), then the cross-encoder."""
    from bot.assembly import build_answerer, ensure_index
    from models.reader import DEFAULT_READER
    from training.reader import load_qa_examples
    from training.reranker import RerankerConfig, squad_pairs, train_reranker

    config = RerankerConfig(squad_questions=args.squad_questions, epochs=args.epochs, max_length=args.max_length)
    pairs = []
    for path in args.squad:
        pairs += squad_pairs(load_qa_examples(path), config)
    ensure_index(settings)
    built, _ = build_answerer(settings.replace(answerability_model="off"))
    store = [q for q in load_questions(question_files(args.questions)) if q.kind != "follow_up" and q.split == "train"]
    store_pairs = []
    for q, found in zip(store, built.retriever.retrieve_many([q.question for q in store], top_k=8)):
        for sp in found:
            right = score_reply(q, {"kind": "answer", "text": sp.passage.text}) == "right"
            store_pairs.append((q.question, sp.passage.text, float(right)))
    pairs += store_pairs * config.store_repeats
    record = train_reranker(pairs, Path(args.base or DEFAULT_READER), args.out, config, progress=not args.quiet)
    return {"out": str(args.out), **record, "store_pairs": len(store_pairs)}


def add_train_reranker_parser(train_sub) -> None:
    fit = train_sub.add_parser(
        "reranker",
        help="train the cross-encoder reranker on SQuAD pairs and the store question set's train split",
        description="Pair SQuAD questions with their paragraph and hard negatives, and the store set's train questions "
        "with their retrieved passages, then fine-tune a cross-encoder from the reader's encoder.",
    )
    fit.add_argument("--squad", type=Path, nargs="+", required=True, help="SQuAD-format files (their reader-held-out articles are skipped)")
    fit.add_argument("--questions", type=Path, action="append", default=[], help="store question JSONL (default: the sample store's eval/)")
    fit.add_argument("--out", type=Path, default=Path("models/checkpoints/reranker"), help="checkpoint directory to write")
    fit.add_argument("--base", type=Path, help="encoder to start from (default: the shipped reader)")
    fit.add_argument("--squad-questions", type=int, default=1500, help="SQuAD questions sampled per file (default 1500)")
    fit.add_argument("--epochs", type=int, default=1)
    fit.add_argument("--max-length", type=int, default=192, help="tokens per pair (default 192)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
