"""The reader's answer ladder: confident answer in its sentence, clarifying question with the two best
candidates, honest fallback; other languages go to the sentence-quoting answerer. Small fakes for the
retriever and the reader; the real ones are exercised in tests/integration/test_reader_answers.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from answering.reading import NO_ANSWER, LadderThresholds, ReadingAnswerer, quote_sentence, sentence_around
from core.types import Passage, Reply, ScoredPassage
from models.reader import ExtractedAnswer, ReaderResult

RETURNS = ("# Returns\n- You have 30 days from delivery to return an item. Items must be unused.\n"
           "- Sale items are final sale.")
SHIPPING = "Standard shipping takes 3-5 business days. Express shipping takes 1-2 business days."


def passage(pid, text, title_path, language="en"):
    return Passage(pid, f"doc{pid}.md", title_path[0], title_path, text, "policy", language)


class FakeRetriever:
    def __init__(self, passages):
        self.passages = passages
        self.kb = SimpleNamespace(passages={p.passage_id: p for p in passages})
        self.calls = []

    def retrieve_many(self, questions, top_k=5, filters=None):
        self.calls.append((tuple(questions), top_k, filters))
        return [[ScoredPassage(p, 1.0 - 0.1 * i) for i, p in enumerate(self.passages[:top_k])] for _ in questions]


class FakeReader:
    def __init__(self, result):
        self.result = result
        self.read = []

    def run_many(self, items, top_k=None):
        self.read.extend(items)
        return [self.result for _ in items]


class FakeQuoting:
    embedder = "embedder"

    def answer_many(self, questions):
        return [Reply(f"quoted: {q}", kind="answer") for q in questions]


def span(text, passage_text, confidence, passage_index=0):
    start = passage_text.index(text)
    return ExtractedAnswer(text, confidence, 5.0, passage_index, start, start + len(text), confidence)


@pytest.fixture
def retriever():
    return FakeRetriever([passage(1, RETURNS, ("Returns", "Return window")), passage(2, SHIPPING, ("Shipping", "Delivery times"))])


def answerer(retriever, result, **options):
    return ReadingAnswerer(retriever, FakeReader(result), FakeQuoting(), thresholds=LadderThresholds(0.5, 0.25), **options)


def test_a_confident_answer_is_stated_in_its_sentence_and_cites_the_passage(retriever):
    best = span("30 days", RETURNS, 0.9)
    reply = answerer(retriever, ReaderResult((best,), 0.05, -3.0)).answer("How many days do I have to return an item?")
    assert reply.kind == "answer"
    assert reply.text == "You have 30 days from delivery to return an item."
    assert reply.confidence == pytest.approx(0.9)
    assert reply.sources[0].document == "doc1.md" and reply.sources[0].passage == RETURNS
    answer = reply.answer_span
    assert RETURNS[answer.start: answer.end] == "30 days"


def test_unsure_asks_back_with_the_two_best_distinct_candidates(retriever):
    result = ReaderResult((span("30 days", RETURNS, 0.35), span("from delivery", RETURNS, 0.3),  # same sentence: one option
                           span("1-2 business days", SHIPPING, 0.3, passage_index=1)), 0.3, 0.0)
    reply = answerer(retriever, result).answer("How long do I have?")
    assert reply.kind == "clarify"
    lines = reply.text.splitlines()
    assert lines[1] == "• You have 30 days from delivery to return an item. (Returns › Return window)"
    assert lines[2] == "• Express shipping takes 1-2 business days. (Shipping › Delivery times)"
    assert len(lines) == 4 and "?" in lines[-1]
    assert [s.document for s in reply.sources] == ["doc1.md", "doc2.md"]


def test_no_answer_is_an_honest_fallback_without_a_source(retriever):
    result = ReaderResult((span("Sale items", RETURNS, 0.1),), 0.85, 4.0)
    reply = answerer(retriever, result).answer("Do you sell helicopters?")
    assert reply.kind == "not_sure" and reply.text == NO_ANSWER and not reply.sources
    assert reply.metadata["reader"]["no_answer_probability"] == 0.85


def test_the_top_passages_are_read_together_in_the_customers_language(retriever):
    reader_answerer = answerer(retriever, ReaderResult((), 1.0, 0.0), passages=2)
    reader_answerer.answer_many(["Do you ship to Canada?", "Can I return a gift?"])
    questions, top_k, filters = retriever.calls[0]
    assert top_k == 2 and filters.languages == ("en",) and len(questions) == 2
    assert reader_answerer.reader.read[0] == ("Do you ship to Canada?", [RETURNS, SHIPPING])


def test_languages_the_reader_was_not_trained_on_are_quoted(retriever):
    replies = answerer(retriever, ReaderResult((), 1.0, 0.0)).answer_many(["退货期限是多久？", "Do you ship to Canada?"])
    assert replies[0].text == "quoted: 退货期限是多久？"
    assert replies[1].kind == "not_sure"


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError):
        LadderThresholds(answer=0.3, clarify=0.6)


@pytest.mark.parametrize("needle, sentence", [
    ("30 days", "You have 30 days from delivery to return an item."),
    ("unused", "Items must be unused."),
    ("final sale", "Sale items are final sale."),
])
def test_the_quoted_sentence_is_the_one_holding_the_span(needle, sentence):
    start = RETURNS.index(needle)
    assert quote_sentence(RETURNS, start, start + len(needle)) == sentence
    first, last = sentence_around(RETURNS, start, start + len(needle))
    assert first <= start and start + len(needle) <= last


def test_a_span_across_sentences_quotes_both():
    text = "One. Two three. Four."
    start, end = text.index("Two"), text.index("Four") + 4
    assert quote_sentence(text, start, end) == "Two three. Four."


RETURNS_ZH = "自签收之日起，您有 30 天时间可以退货。超过退货期限寄出的退货将不予受理。"


def test_each_language_is_read_by_its_own_reader_with_its_own_ladder():
    from answering.reading import WORDING

    retriever = FakeRetriever([passage(1, RETURNS_ZH, ("退货政策", "退货期限"), language="zh")])
    english = FakeReader(ReaderResult((span("30 days", RETURNS, 0.9),), 0.05, -3.0))
    chinese = FakeReader(ReaderResult((span("30 天", RETURNS_ZH, 0.6),), 0.1, -3.0))
    reading = ReadingAnswerer(retriever, english, FakeQuoting(), thresholds=LadderThresholds(0.5, 0.25),
                              readers={"zh": (chinese, LadderThresholds(0.7, 0.65))})
    assert reading.languages == ("en", "zh") and reading.reader is english
    reply = reading.answer("退货期限是多久？")
    assert chinese.read and not english.read
    # 0.6 is an answer on the English ladder but below the Chinese one: no answer, said in Chinese.
    assert reply.kind == "not_sure" and reply.text == WORDING["zh"][0]


def test_a_chinese_reader_alone_leaves_english_to_the_quoting_answerer():
    retriever = FakeRetriever([passage(1, RETURNS_ZH, ("退货政策", "退货期限"), language="zh")])
    chinese = FakeReader(ReaderResult((span("30 天", RETURNS_ZH, 0.9),), 0.05, -3.0))
    reading = ReadingAnswerer(retriever, None, FakeQuoting(), readers={"zh": (chinese, LadderThresholds(0.5, 0.25))})
    assert reading.answer("How long do I have to return?").text == "quoted: How long do I have to return?"
    reply = reading.answer("退货期限是多久？")
    assert reply.kind == "answer" and reply.text == "自签收之日起，您有 30 天时间可以退货。"
    assert RETURNS_ZH[reply.answer_span.start: reply.answer_span.end] == "30 天"
