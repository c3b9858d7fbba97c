"""The composition root: the one place that builds the answer pipeline from settings, for the HTTP
server (`open_dialogue`), the Rasa action server (`build_rasa_actions`) and the CLI.

Every part is built here and handed to the parts that use it; no part reaches into another for its
pieces. Loading is slow (seconds of model weights), so the HTTP server runs these builders on its
inference pool, before it accepts requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, Sequence

from answering.writing import DialogueWriter, Shopping
from bot.backend import StoreBackend
from bot.dialogue import DialoguePolicy, DialogueService, Understanding
from core.batching import MicroBatcher
from core.budget import Progress, SkipCounters
from core.limits import RateLimiter
from core.memory import release_freed_memory
from core.ports import ConversationStore
from core.settings import Settings
from core.types import Reply

if TYPE_CHECKING:
    from answering.grounding import GroundingStats
    from answering.phrasing import ReplyWriter
    from knowledge_base.indexes import KnowledgeBase
    from knowledge_base.recommend import ProductRecommender
    from knowledge_base.retriever import HybridRetriever
    from models.embedder import Embedder
    from models.intents import IntentClassifier, IntentPrediction

log = logging.getLogger(__name__)


class BatchAnswerer(Protocol):
    """What the dialogue needs of the answer pipeline: many questions at once (the micro-batcher's)."""

    def answer_many(self, questions: Sequence[str]) -> list[Reply]: ...


class BatchIntentClassifier(Protocol):
    def run(self, texts: Sequence[str]) -> list["IntentPrediction"]: ...


class Answerer(BatchAnswerer, Protocol):
    """The built answer pipeline (answering.extractive or answering.reading): one question, many,
    and the retriever and embedder it was built on, for the parts that share them."""

    retriever: "HybridRetriever"
    embedder: "Embedder"

    def answer(self, question: str) -> Reply: ...


@dataclass
class OpenDialogue:
    """The running dialogue and what the server reports about it; `close()` once, at shutdown."""

    dialogue: DialogueService
    skips: SkipCounters
    stages: tuple[Progress, ...]
    health: dict[str, Any]
    # How often a generated reply failed its check, by kind (None without a generator).
    checks: "GroundingStats | None" = None
    _batchers: list[MicroBatcher] = field(default_factory=list, repr=False)
    _executors: list[ThreadPoolExecutor] = field(default_factory=list, repr=False)
    _writer: DialogueWriter | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel_all()  # generations in flight stop at their next token
        for batcher in self._batchers:
            await batcher.stop()
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)


async def open_dialogue(
    settings: Settings,
    store: ConversationStore,
    backend: StoreBackend,
    *,
    answerer: BatchAnswerer | None = None,
    intents: BatchIntentClassifier | None = None,
    writer: "ReplyWriter | None" = None,
    recommender: "ProductRecommender | None" = None,
) -> OpenDialogue:
    """The dialogue over the pipeline built from `settings`, or over the parts given (tests pass
    fakes, or one real pipeline shared by many apps): with `answerer` given, only what is also given
    is used, so no `intents` sends everything to the knowledge base, no `writer` keeps replies
    extractive and no `recommender` turns product suggestions off."""
    executor = ThreadPoolExecutor(max_workers=settings.inference_workers, thread_name_prefix="inference")
    # Generation holds a thread for seconds: its own workers, one per stream the generator decodes
    # together (they mostly wait for tokens), so it never blocks retrieval and intents.
    concurrent_generations = max(1, settings.generator_batch_size)
    generation = ThreadPoolExecutor(max_workers=concurrent_generations, thread_name_prefix="generation")
    health: dict[str, Any] = {}
    pipeline, classifier, reply_writer, products = answerer, intents, writer, recommender
    loop = asyncio.get_running_loop()
    if pipeline is None:
        # Loading models takes seconds: done off the loop, before the server accepts requests.
        built, classifier, info = await loop.run_in_executor(executor, build_pipeline, settings)
        pipeline = built
        health.update(info)
        products = await loop.run_in_executor(executor, build_recommender, built)
        if settings.generator_enabled:
            reply_writer = await loop.run_in_executor(generation, build_writer, settings, products)
    elif reply_writer is not None:
        await loop.run_in_executor(generation, reply_writer.warm_up)
    health["generator"] = generator_health(settings, reply_writer)
    skips = SkipCounters()
    generation_progress = Progress("generator")
    batcher: MicroBatcher[str, Reply] = MicroBatcher(pipeline.answer_many, executor, max_batch=16, progress=Progress("answers"))
    await batcher.start()
    batchers: list[MicroBatcher] = [batcher]
    dialogue_writer = DialogueWriter(
        reply_writer, generation, languages=settings.generator_languages,
        phrase_answers=settings.phrase_answers, max_waiting=settings.generation_max_waiting,
        concurrent=concurrent_generations,
        skips=skips, progress=generation_progress,
        under_load=lambda: batcher.backlog >= settings.shed_generation_backlog > 0,
    ) if reply_writer is not None else None
    shopping = Shopping(products, executor, dialogue_writer) if products is not None else None
    stages = [batcher.progress, generation_progress]
    understand: Callable[[str], Awaitable[Understanding]] | None = None
    if classifier is not None:
        intent_batcher: MicroBatcher[str, IntentPrediction] = MicroBatcher(classifier.run, executor, max_batch=32, progress=Progress("intents"))
        stages.append(intent_batcher.progress)
        await intent_batcher.start()
        batchers.append(intent_batcher)

        async def classify(text: str) -> Understanding:
            prediction = await intent_batcher.submit(text)
            return Understanding(prediction.intent, prediction.confidence)

        understand = classify

    policy = DialoguePolicy(
        intent_threshold=settings.intent_threshold,
        handoff_after_failures=settings.handoff_after_failures,
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        support_hours=settings.support_hours,
        order_proof_failures=settings.order_proof_failures,
        order_proof_window=timedelta(minutes=settings.order_proof_window_minutes),
    )
    dialogue = DialogueService(
        store,
        batcher.submit,
        understand=understand,
        backend=backend,
        policy=policy,
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        client_limiter=RateLimiter(settings.client_rate_limit_per_minute, settings.client_rate_limit_burst,
                                   what="messages from your network address"),
        max_message_chars=settings.max_message_chars,
        writer=dialogue_writer,
        shopping=shopping,
        budgets=settings.reply_budgets(),
    )
    release_freed_memory()
    checks = reply_writer.stats if reply_writer is not None else None
    return OpenDialogue(dialogue, skips, tuple(stages), health, checks, batchers, [executor, generation], dialogue_writer)


def build_pipeline(settings: Settings) -> tuple[Answerer, "IntentClassifier", dict[str, Any]]:
    """The answerer and the intent classifier, sharing one embedder."""
    answerer, info = build_answerer(settings)
    classifier = build_intents(settings, answerer)
    info["intents"] = len(classifier.model.classes)
    return answerer, classifier, info


def build_intents(settings: Settings, answerer: Answerer) -> "IntentClassifier":
    """The intent model, over the dense view it was trained with: the answerer's MiniLM, and
    multilingual-e5-small for Chinese messages (models/multilingual_embedder.py)."""
    from knowledge_base.text import detect_language
    from models.intents import IntentClassifier
    from models.multilingual_embedder import intent_embedder

    classifier = IntentClassifier(answerer.embedder, settings.intent_model or None)
    classifier.warm_up()  # a missing or corrupt model fails here, naming its path, not on a customer's message
    classifier.embedder = intent_embedder(answerer.embedder, classifier.model.meta.get("embedder", ""), detect_language)
    classifier.embedder.warm_up()
    classifier.run(["warm-up", "你好"])
    return classifier


def build_recommender(answerer: Answerer) -> "ProductRecommender | None":
    """Product suggestions over the catalog passages of the answerer's index (None without any)."""
    from knowledge_base.recommend import ProductRecommender

    recommender = ProductRecommender(answerer.retriever)
    recommender.warm_up()
    if not recommender.catalog():
        log.info("no catalog in the index: product suggestions are off")
        return None
    return recommender


def build_writer(settings: Settings, recommender: "ProductRecommender | None" = None) -> "ReplyWriter":
    """The generator and its checked writer. A generator that fails to load (ReplyWriter.warm_up)
    leaves the writer on templates, so replies stay extractive; /health says why."""
    from answering.phrasing import reply_writer_from_settings

    catalog = tuple(recommender.catalog().values()) if recommender is not None else ()
    writer = reply_writer_from_settings(settings, catalog)
    writer.warm_up()
    if not writer.unavailable:
        # The first generation allocates: pay it before the first customer (not counted as a check).
        writer.generator.generate([{"role": "user", "content": "Hello"}], max_new_tokens=2)
    return writer


def generator_health(settings: Settings, writer: "ReplyWriter | None") -> dict[str, Any]:
    if writer is None:
        return {"enabled": False}
    generator = writer.generator
    info: dict[str, Any] = {"enabled": True, "available": generator is not None and not writer.unavailable}
    if writer.unavailable:
        info["error"] = writer.unavailable
        info["replies"] = "extractive"
    if generator is not None and not writer.unavailable:
        info["model"] = generator.path
        info["adapter"] = str(generator.adapter) if generator.has_adapter else None
        info["languages"] = list(settings.generator_languages)
    return info


def build_answerer(settings: Settings) -> tuple[Answerer, dict[str, Any]]:
    """Load the index and the embedder; errors name the missing path instead of failing on a question."""
    from answering.extractive import ExtractiveAnswerer
    from knowledge_base.retriever import HybridRetriever
    from models.embedder import embedder_from_settings
    from models.multilingual_embedder import passage_embedder_from_settings

    embedder = embedder_from_settings(settings)
    passage_embedder = passage_embedder_from_settings(settings, embedder)
    passage_embedder.warm_up()
    kb = load_index(settings.index_dir, passage_embedder)
    retriever = HybridRetriever(kb, passage_embedder, top_k=settings.retrieval_top_k, dense_weight=settings.dense_weight,
                                candidates=settings.retrieval_candidates, space_dense_weights={"zh": settings.chinese_dense_weight})
    answerer: Answerer = ExtractiveAnswerer(
        retriever, embedder, min_confidence=settings.min_confidence, max_sentences=settings.max_answer_sentences, top_k=settings.retrieval_top_k
    )
    # Every passage's sentences embedded before the first customer (cached next to the index).
    answerer.warm_up_sentences(settings.index_dir / f"sentence-vectors-{kb.generation}.npz")
    answerer, reader_info = with_readers(settings, retriever, answerer)
    answerer, calibration = calibrated(settings, answerer)
    reader_info["answerability"] = calibration
    from answering.products import ProductFacts, ProductFactsFirst

    facts = ProductFacts(list(kb.passages.values()))
    if len(facts):
        quoting = answerer.quoting if hasattr(answerer, "quoting") else answerer
        answerer = ProductFactsFirst(answerer, facts, quote=quoting.quote_passage)
    answerer.answer("warm-up question")  # first inference allocates; pay it before the first customer
    info = {
        "passages": len(kb),
        "index_generation": kb.generation,
        "embedder": passage_embedder.model_name,
        "faiss_gpu": kb.dense.on_gpu,
        "reader": reader_info,
        "catalog_products": len(facts),
    }
    log.info("knowledge base ready: %s", info)
    return answerer, info


def with_readers(settings: Settings, retriever, quoting: Answerer) -> tuple[Answerer, dict[str, Any]]:
    """The reader ladder over `quoting`: the English reader when reader_enabled, the Chinese one unless "off"."""
    from answering.reading import LadderThresholds, ReadingAnswerer
    from models.reader import chinese_reader_from_settings, reader_from_settings

    reader = reader_from_settings(settings) if settings.reader_enabled else None
    chinese = chinese_reader_from_settings(settings)
    if reader is None and chinese is None:
        return quoting, {"enabled": False}
    zh = LadderThresholds(settings.chinese_reader_answer_threshold, settings.chinese_reader_clarify_threshold)
    reading = ReadingAnswerer(retriever, reader, quoting, LadderThresholds(settings.reader_answer_threshold, settings.reader_clarify_threshold),
                              settings.reader_passages, settings.reader_languages, readers={"zh": (chinese, zh)} if chinese else None,
                              language_passages={"zh": settings.chinese_reader_passages})
    reading.warm_up()  # a missing or corrupt checkpoint fails start-up here, naming its path
    info: dict[str, Any] = {"enabled": reader is not None, "languages": list(reading.languages),
                            "models": {lang: str(r.model_dir) for lang, (r, _) in reading.by_language.items()}}
    if reader is not None:
        info.update(model=str(reader.model_dir), int8=reader.quantize and reader.device == "cpu")
    return reading, info


def load_index(index_dir: Path, embedder: "Embedder") -> "KnowledgeBase":
    """The knowledge base, its passages embedded by `embedder`: an index another embedder (or the
    same model at another precision) embedded is embedded again from its stored text first, since
    its vectors and the questions' would not be comparable."""
    from knowledge_base.indexes import KnowledgeBase
    from knowledge_base.ingest import Ingestor

    kb = KnowledgeBase.load(index_dir, expected_dimension=embedder.dimension)
    if kb.embedder_name and kb.embedder_name != embedder.model_name:
        log.warning("the index at %s was embedded by %s; the configured embedder is %s: embedding its %d passages again",
                    index_dir, kb.embedder_name, embedder.model_name, len(kb))
        Ingestor(index_dir, embedder, progress=False).ingest_documents([])
        kb = KnowledgeBase.load(index_dir, expected_dimension=embedder.dimension)
    return kb


def run_ingest(settings: Settings, paths: list[Path], progress: bool = True):
    from knowledge_base.ingest import Ingestor
    from models.embedder import embedder_from_settings
    from models.multilingual_embedder import passage_embedder_from_settings

    embedder = passage_embedder_from_settings(settings, embedder_from_settings(settings))
    return Ingestor(settings.index_dir, embedder, progress=progress).ingest_paths(paths)


def ensure_index(settings: Settings) -> None:
    """Ingest the configured documents when there is no index yet (`serve --ingest-if-missing`, evaluations)."""
    from knowledge_base.store import PassageStore

    if not PassageStore(settings.index_dir).exists:
        print(f"no index in {settings.index_dir}: ingesting {', '.join(map(str, settings.documents))}", file=sys.stderr)
        run_ingest(settings, list(settings.documents))


DEFAULT_ANSWERABILITY = Path(__file__).resolve().parent.parent / "models" / "checkpoints" / "answerability"


def calibrated(settings: Settings, answerer: Answerer) -> tuple[Answerer, dict[str, Any]]:
    """The answerer with the calibrated answer-or-abstain decision on top, when a model is configured
    (the shipped one by default); each path's own threshold otherwise. The model says which parts it
    was fitted with (the reader, the reranker): those are loaded, and a missing one stops start-up."""
    from answering.answerability import AnswerabilityModel, CalibratedAnswerer
    from answering.reading import LadderThresholds, ReadingAnswerer

    if settings.answerability_model == "off":
        return answerer, {"enabled": False}
    directory = Path(settings.answerability_model) if settings.answerability_model else DEFAULT_ANSWERABILITY
    if not settings.answerability_model and not (directory / "answerability.json").is_file():
        return answerer, {"enabled": False}
    model = AnswerabilityModel.load(directory)
    if settings.answerability_threshold > 0:
        model = dataclasses.replace(model, threshold=settings.answerability_threshold)
    # The answerability model was fitted on English; the Chinese reader is not one of its inputs.
    quoting = answerer.quoting if isinstance(answerer, ReadingAnswerer) else answerer
    reading = answerer if isinstance(answerer, ReadingAnswerer) and "en" in answerer.by_language else None
    if not model.meta.get("reader"):
        reading = None  # fitted without the reader's evidence: reading would only cost time and skew it
    elif reading is None:
        from models.reader import reader_from_settings

        reader = reader_from_settings(settings)
        reader.warm_up()
        reading = ReadingAnswerer(quoting.retriever, reader, quoting, LadderThresholds(settings.reader_answer_threshold,
                                  settings.reader_clarify_threshold), settings.reader_passages, settings.reader_languages)
    reranker = None
    if model.meta.get("reranker"):
        from models.reranker import DEFAULT_RERANKER, CrossEncoderReranker

        reranker = CrossEncoderReranker(settings.reranker_model or DEFAULT_RERANKER)
        reranker.warm_up()
    languages = tuple(lang for lang in (reading.languages if reading is not None else settings.reader_languages) if lang != "zh")
    return CalibratedAnswerer(quoting, reading, model, languages, reranker=reranker), {
        "enabled": True, "threshold": model.threshold, "reader": reading is not None, "reranker": reranker is not None}


# ---------------------------------------------------------------- the Rasa action server


def build_rasa_actions(settings: Settings):
    """rasa-sdk's executor with our actions over the real pipeline, and the resources they share."""
    from bot.conversations import SQLiteConversationStore
    from connectors.rasa_actions import build_action_executor
    from knowledge_base.recommend import ProductRecommender

    answerer, info = build_answerer(settings)
    recommender = ProductRecommender(answerer.retriever)
    recommender.warm_up()
    info["products"] = len(recommender.catalog())
    return build_action_executor(settings, answerer=answerer, recommender=recommender,
                                 store=SQLiteConversationStore(settings.database_path), info=info)


def serve_actions(settings: Settings, host: str = "127.0.0.1", port: int = 5055) -> None:
    """Load the models, then serve the Rasa actions until SIGINT/SIGTERM, in this one process."""
    from connectors.rasa_actions import check_port_free, run_action_server

    check_port_free(host, port)  # before seconds of model loading, not after
    executor, resources = build_rasa_actions(settings)
    run_action_server(executor, resources, host=host, port=port)
