"""Answers from the extractive reader: retrieve the top passages, read them in one batch, climb the ladder.

The ladder, on the best answer's confidence (the reader's probability mass on that span and the spans
overlapping it, with the no-answer span competing for the same mass):
- at or above `answer_threshold`: the sentence of the passage that contains the extracted answer,
  citing that passage, with the exact span in `Reply.answer_span`;
- from `clarify_threshold`: the two best distinct candidates, asked back as a question;
- below: an honest "I couldn't find that" (the dialogue adds the offer of a person, and hands over
  after repeated misses).
Each language has its own reader (and thresholds): the English one trained on SQuAD, the Chinese
one on CMRC 2018. Questions in a language with no reader go to the sentence-quoting answerer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from answering.extractive import NO_KNOWLEDGE, ExtractiveAnswerer, retrieve_in_language
from core.types import AnswerSpan, Reply, ScoredPassage, Source
from knowledge_base.retriever import HybridRetriever
from knowledge_base.text import detect_language
from models.reader import ExtractedAnswer, ExtractiveReader, ReaderResult

log = logging.getLogger(__name__)

NO_ANSWER = "I couldn't find an answer to that in our store's information, and I'd rather not guess."
CLARIFY_LEAD = "I'm not sure which of these you mean:"
CLARIFY_TAIL = "Which one is it? Or rephrase your question and I'll look again."
CLARIFY_ONE_LEAD = "I'm not sure this answers your question, but it may be what you're looking for:"
CLARIFY_ONE_TAIL = "If it isn't, rephrase your question and I'll look again."
# The same, per language: (no answer, two-option lead, tail, one-option lead, tail).
WORDING = {
    "en": (NO_ANSWER, CLARIFY_LEAD, CLARIFY_TAIL, CLARIFY_ONE_LEAD, CLARIFY_ONE_TAIL),
    "zh": ("抱歉，我在本店的资料里没有找到这个问题的答案，不想随便猜测。",
           "我不确定您指的是下面哪一项：",
           "是哪一项呢？您也可以换个说法再问一次。",
           "我不确定这是否回答了您的问题，但也许是您要找的：",
           "如果不是，请换个说法再问一次，我会重新查找。"),
}

# A sentence ends at . ! ? (followed by space) or a Chinese full stop, or at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]?\s+|(?<=[。！？])|\n+")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True)
class LadderThresholds:
    answer: float = 0.5
    clarify: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.clarify <= self.answer <= 1.0:
            raise ValueError(f"need 0 <= clarify ({self.clarify}) <= answer ({self.answer}) <= 1")


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Character bounds of the sentence(s) of `text` that contain [start, end)."""
    first, last = 0, len(text)
    for match in _SENTENCE_BREAK.finditer(text):
        if match.end() <= start:
            first = match.end()
        elif match.start() >= end:
            last = match.start()
            break
    return first, last


def quote_sentence(text: str, start: int, end: int) -> str:
    first, last = sentence_around(text, start, end)
    if text[first:last].rstrip().endswith(":"):
        # A list's lead-in ("returned items must be:") comes with its items.
        items = text[last:].split("\n\n", 1)[0]
        last += len(items)
    sentence = _LIST_MARK.sub("", text[first:last]).strip()
    return " ".join(sentence.split())


class ReadingAnswerer:
    """retriever → reader → ladder, with the sentence-quoting answerer for other languages.

    `reader` reads `languages`; `readers` adds a (reader, thresholds) pair per further language,
    `language_passages` how many passages a language's reader reads (default `passages`).
    """

    def __init__(
        self,
        retriever: HybridRetriever,
        reader: ExtractiveReader | None,
        quoting: ExtractiveAnswerer,
        thresholds: LadderThresholds = LadderThresholds(),
        passages: int = 3,
        languages: Sequence[str] = ("en",),
        readers: Mapping[str, tuple[ExtractiveReader, LadderThresholds]] | None = None,
        language_passages: Mapping[str, int] | None = None,
    ) -> None:
        self.retriever = retriever
        self.quoting = quoting
        self.passages = passages
        self.language_passages = dict(language_passages or {})
        self.by_language: dict[str, tuple[ExtractiveReader, LadderThresholds]] = (
            {language: (reader, thresholds) for language in languages} if reader is not None else {})
        self.by_language.update(readers or {})
        self.languages = tuple(self.by_language)
        self._kb_languages = {p.language for p in retriever.kb.passages.values()}

    @property
    def reader(self) -> ExtractiveReader | None:
        """The English reader (or the first one)."""
        pair = self.by_language.get("en") or next(iter(self.by_language.values()), None)
        return pair[0] if pair else None

    @property
    def thresholds(self) -> LadderThresholds:
        pair = self.by_language.get("en") or next(iter(self.by_language.values()), None)
        return pair[1] if pair else LadderThresholds()

    @property
    def embedder(self):
        return self.quoting.embedder

    def warm_up(self) -> None:
        self.quoting.warm_up()
        for reader, _ in self.by_language.values():
            reader.warm_up()

    def answer(self, question: str) -> Reply:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[str], ladder: bool = True) -> list[Reply]:
        """`ladder=False`: the best span's answer whatever its confidence (a later stage decides)."""
        if not questions:
            return []
        languages = [detect_language(q) for q in questions]
        quoted = [i for i, language in enumerate(languages) if language not in self.by_language]
        replies: list[Reply | None] = [None] * len(questions)
        for i, reply in zip(quoted, self.quoting.answer_many([questions[i] for i in quoted])):
            replies[i] = reply
        for language, (reader, thresholds) in self.by_language.items():
            read = [i for i, lang in enumerate(languages) if lang == language]
            if not read:
                continue
            retrieved = retrieve_in_language(
                self.retriever, [questions[i] for i in read], [languages[i] for i in read], self._kb_languages,
                self.language_passages.get(language, self.passages),
            )
            results = reader.run_many(
                [(questions[i], [sp.passage.text for sp in found]) for i, found in zip(read, retrieved)], top_k=4
            )
            for i, found, result in zip(read, retrieved, results):
                replies[i] = self._ladder(language, found, result, ladder, thresholds)
        return replies  # type: ignore[return-value]

    def _ladder(self, language: str, found: list[ScoredPassage], result: ReaderResult, ladder: bool = True,
                thresholds: LadderThresholds | None = None) -> Reply:
        thresholds = thresholds or self.thresholds
        no_answer, lead_two, tail_two, lead_one, tail_one = WORDING.get(language, WORDING["en"])
        if not found:
            return Reply(NO_KNOWLEDGE.get(language, NO_KNOWLEDGE["en"]), kind="not_sure")
        metadata = {
            "reader": {
                "no_answer_probability": round(result.no_answer_probability, 4),
                "candidates": [self._candidate(found, a) for a in result.answers],
            },
            "candidates": [
                {"document": sp.passage.doc_id, "section": " > ".join(sp.passage.title_path), "score": round(sp.score, 3)} for sp in found
            ],
        }
        best = result.best
        confidence = best.confidence if best else 0.0
        if best is not None and (confidence >= thresholds.answer or not ladder):
            passage = found[best.passage_index]
            text = quote_sentence(passage.passage.text, best.start, best.end)
            return Reply(text, sources=(_source(passage),), confidence=confidence, kind="answer", metadata=metadata,
                         answer_span=AnswerSpan(best.text, best.start, best.end, best.confidence))
        options = self._distinct_options(found, result, thresholds)
        if options and confidence >= thresholds.clarify:
            lead, tail = (lead_two, tail_two) if len(options) == 2 else (lead_one, tail_one)
            bullets = (f"• {sentence} ({' › '.join(found[a.passage_index].passage.title_path)})" for a, sentence in options)
            lines = [lead, *bullets, tail]
            sources = tuple(_source(found[a.passage_index]) for a, _ in options)
            return Reply("\n".join(lines), sources=sources, confidence=confidence, kind="clarify", metadata=metadata)
        return Reply(no_answer, confidence=confidence, kind="not_sure", metadata=metadata)

    def _distinct_options(self, found: list[ScoredPassage], result: ReaderResult,
                          thresholds: LadderThresholds) -> list[tuple[ExtractedAnswer, str]]:
        """The two best candidates that quote different sentences, above the clarify threshold."""
        options: list[tuple[ExtractedAnswer, str]] = []
        for answer in result.answers:
            if answer.confidence < thresholds.clarify and options:
                break
            sentence = quote_sentence(found[answer.passage_index].passage.text, answer.start, answer.end)
            if all(sentence != s for _, s in options):
                options.append((answer, sentence))
            if len(options) == 2:
                break
        return options

    @staticmethod
    def _candidate(found: list[ScoredPassage], answer: ExtractedAnswer) -> dict:
        passage = found[answer.passage_index].passage
        return {
            "text": answer.text,
            "start": answer.start,
            "end": answer.end,
            "confidence": round(answer.confidence, 4),
            "document": passage.doc_id,
            "section": " > ".join(passage.title_path),
        }


def _source(found: ScoredPassage) -> Source:
    passage = found.passage
    return Source(document=passage.doc_id, title=passage.title, passage=passage.text, score=found.score, title_path=passage.title_path)
