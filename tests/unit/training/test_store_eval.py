"""The store question set: its format, split, gold check and scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.store_eval import QuestionSetError, check_questions, load_questions, normalise, parse_question, score_reply, summarise

SAMPLE_EVAL = Path(__file__).resolve().parents[3] / "knowledge_base" / "sample_store" / "eval"


def q(**record):
    return parse_question({"id": "x-1", **record}, "test")


def test_answerable_unanswerable_and_follow_up_records():
    answerable = q(question="how long to return", answers=["30 days"], source="policies/returns.md", section="Return Window")
    assert answerable.answerable and answerable.kind == "answerable" and answerable.question == "how long to return"
    assert q(question="gift wrap?", answers=[]).kind == "unanswerable"
    follow = q(turns=["ship to canada?", "how much"], answers=["$14.95"], source="policies/shipping.md", section="Zones")
    assert follow.kind == "follow_up" and follow.question == "how much" and follow.turns[0] == "ship to canada?"


@pytest.mark.parametrize("record, message", [
    ({"question": ""}, "non-empty"),
    ({"question": "x", "answers": ["a"]}, "needs 'source' and 'section'"),
    ({"turns": ["only one"]}, "at least two"),
    ({"question": "x", "answers": "30 days"}, "list of non-empty strings"),
])
def test_bad_records_name_what_is_wrong(record, message):
    with pytest.raises(QuestionSetError, match=message):
        q(**record)


def test_load_rejects_bad_json_and_repeated_ids(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "x"}\n{not json\n')
    with pytest.raises(QuestionSetError, match="bad.jsonl:2"):
        load_questions([bad])
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n')
    with pytest.raises(QuestionSetError, match="more than once"):
        load_questions([twice])


def test_split_is_by_section_not_by_question():
    a = q(question="one", answers=["30 days"], source="policies/returns.md", section="Return Window")
    b = parse_question({"id": "x-2", "question": "two", "answers": ["x"], "source": "policies/returns.md", "section": "return window"}, "t")
    assert a.split == b.split  # the same section, whatever the wording: never tuned on and measured at once


def test_scoring():
    answerable = q(question="q", answers=["$1,199.00", "5–10 business days"], source="s", section="t")
    assert score_reply(answerable, {"kind": "answer", "text": "It costs $1199.00."}) == "right"
    assert score_reply(answerable, {"kind": "answer", "text": "Refunds take 5-10 Business Days!"}) == "right"
    assert score_reply(answerable, {"kind": "answer", "text": "30 days."}) == "wrong"
    assert score_reply(answerable, {"kind": "not_sure", "text": "I don't know"}) == "abstained"
    assert score_reply(answerable, None) == "error"
    unanswerable = q(question="gift wrap?", answers=[])
    assert score_reply(unanswerable, {"kind": "handoff", "text": "..."}) == "right"
    assert score_reply(unanswerable, {"kind": "answer", "text": "Yes!"}) == "wrong"
    assert normalise("It’s $5.95 – free!") == "it s $5 95 free"


def test_summary_reports_the_issue_figures():
    a = q(question="q", answers=["x"], source="s", section="t")
    u = parse_question({"id": "n-1", "question": "u", "answers": []}, "t")
    summary = summarise([(a, "right"), (a, "abstained"), (u, "right"), (u, "wrong")])
    assert summary["all"]["accuracy"] == 0.5 and summary["all"]["wrong_confident"] == 0.25
    assert summary["all"]["abstained_on_answerable"] == 0.5 and summary["all"]["declined_unanswerable"] == 0.5


def test_check_finds_misquoted_gold():
    sections = {"policies/returns.md": [(("Returns Policy", "Return Window"), "You have 30 days from the date of delivery.")]}
    good = q(question="q", answers=["30 days from the date of delivery"], source="policies/returns.md", section="Return Window")
    misquoted = q(question="q", answers=["thirty days"], source="policies/returns.md", section="Return Window")
    wrong_section = q(question="q", answers=["30 days"], source="policies/returns.md", section="Refunds")
    assert check_questions([good], sections) == []
    assert "not quoted" in check_questions([misquoted], sections)[0]
    assert "no section" in check_questions([wrong_section], sections)[0]


def test_the_shipped_set_is_big_enough_and_every_gold_quote_is_in_the_documents():
    from training.store_eval import store_sections

    questions = load_questions(sorted(SAMPLE_EVAL.glob("*.jsonl")))
    kinds = [x.kind for x in questions]
    assert kinds.count("answerable") >= 300 and kinds.count("unanswerable") >= 100 and kinds.count("follow_up") >= 30
    assert {x.split for x in questions} == {"train", "validation"}
    assert check_questions(questions, store_sections(SAMPLE_EVAL.parent)) == []
    sources = {x.source for x in questions if x.answerable}
    assert {"catalog.csv", "faq.csv", "pages/gift-cards.html", "documents/product-care-and-safety.pdf"} <= sources
    assert all(json.dumps(x.question) for x in questions)
