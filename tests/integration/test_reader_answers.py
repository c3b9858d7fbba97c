"""The trained reader in the bot and on the command line: the shipped checkpoint, the real retriever
(MiniLM, FAISS, BM25) over the sample store, and `python -m bot eval reader / end-to-end`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from answering.reading import NO_ANSWER, ReadingAnswerer
from bot.__main__ import main
from core.errors import ModelLoadError
from core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reading_answerer(sample_index_dir):
    """The reader's own ladder: BOT_READER_ENABLED=1 with BOT_ANSWERABILITY_MODEL=off (catalog questions
    are answered before it; this is the answerer behind the catalog)."""
    from answering.products import ProductFactsFirst
    from bot.assembly import build_answerer

    answerer, info = build_answerer(Settings(data_dir=sample_index_dir, reader_enabled=True, answerability_model="off"))
    assert info["reader"]["enabled"] and not info["reader"]["answerability"]["enabled"]
    return answerer.inner if isinstance(answerer, ProductFactsFirst) else answerer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-squad-v2.json"


def test_the_reader_is_the_shipped_checkpoint_and_its_ladder_off_by_default(reading_answerer, sample_answerer):
    from answering.answerability import CalibratedAnswerer

    assert isinstance(reading_answerer, ReadingAnswerer)
    assert reading_answerer.reader.model_dir.name == "reader" and not reading_answerer.reader.quantize  # int8 cost 4.5 F1
    # The calibrated answer-or-abstain model is opt-in (README); by default the quoting path decides
    # English questions, and only Chinese ones are read (by the Chinese reader).
    default = getattr(sample_answerer, "inner", sample_answerer)
    assert not isinstance(default, CalibratedAnswerer)
    assert isinstance(default, ReadingAnswerer) and default.languages == ("zh",)
    assert default.by_language["zh"][0].model_dir.name == "reader-zh"


def test_the_calibrated_model_answers_what_it_is_sure_of_and_declines_the_rest(sample_index_dir):
    from answering.answerability import CalibratedAnswerer
    from bot.assembly import build_answerer

    answerer, info = build_answerer(Settings(data_dir=sample_index_dir, answerability_model=""))
    assert info["reader"]["answerability"]["enabled"] and isinstance(answerer.inner, CalibratedAnswerer)
    returns = answerer.answer("How many days do I have to return an item?")
    assert returns.kind == "answer" and "30 days" in returns.text and returns.sources
    assert 0.0 < returns.confidence <= 1.0 and "answerability" in returns.metadata
    for question in ("Do you sell helicopters?", "Can you fix my neighbour's tractor?"):
        assert answerer.answer(question).kind == "not_sure", question


def test_the_return_window_is_answered_with_the_exact_span_of_the_return_policy(reading_answerer):
    reply = reading_answerer.answer("How many days do I have to return an item?")
    assert reply.kind == "answer", reply.text
    answer = reply.answer_span
    passage = reply.sources[0].passage
    assert passage[answer.start: answer.end] == answer.text
    assert "30 days" in answer.text
    assert answer.text in reply.text and reply.text in " ".join(passage.split())
    # The return policy, or the FAQ entry that states it: both are the store's return policy.
    assert "return" in " ".join(reply.sources[0].title_path).lower() or "return" in reply.sources[0].document
    assert reply.confidence >= reading_answerer.thresholds.answer


def test_a_question_the_store_cannot_answer_gets_the_honest_fallback(reading_answerer):
    reply = reading_answerer.answer("Do you sell helicopters?")
    assert reply.kind == "not_sure"
    assert reply.text == NO_ANSWER and not reply.sources


def test_chinese_questions_are_still_answered_from_the_chinese_policies(reading_answerer):
    reply = reading_answerer.answer("退货期限是多久？")
    assert reply.kind == "answer" and reply.sources[0].document.endswith(".zh.md")  # the quoting path


def test_a_missing_reader_checkpoint_stops_start_up_naming_the_path(sample_index_dir, tmp_path):
    from bot.assembly import build_answerer

    missing = tmp_path / "no-reader"
    with pytest.raises(ModelLoadError) as error:
        build_answerer(Settings(data_dir=sample_index_dir, reader_enabled=True, reader_model=str(missing)))
    assert str(missing) in error.value.message


def test_a_corrupt_reader_checkpoint_stops_start_up_naming_the_path(sample_index_dir, tmp_path):
    from bot.assembly import build_answerer

    broken = tmp_path / "broken-reader"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"')
    with pytest.raises(ModelLoadError) as error:
        build_answerer(Settings(data_dir=sample_index_dir, reader_enabled=True, reader_model=str(broken)))
    assert str(broken) in error.value.message


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_eval_reader_scores_any_squad_file_with_the_official_fields(capsys):
    assert main(["eval", "reader", "--squad", str(FIXTURE), "--quiet"]) == 0
    report = last_json(capsys)
    assert report["n"] == 10 and report["has_ans_n"] == 7 and report["no_ans_n"] == 3
    assert {"exact_match", "f1", "has_ans_f1", "no_ans_f1"} <= set(report)
    assert report["has_ans_f1"] >= 60.0, report


def test_eval_end_to_end_retrieves_over_all_paragraphs_then_reads(capsys):
    assert main(["eval", "end-to-end", "--squad", str(FIXTURE), "--quiet"]) == 0
    report = last_json(capsys)
    assert report["n"] == 10 and report["top_k"] == 3
    assert report["gold_passage_retrieved"] >= 0.9
    assert report["has_ans_f1"] >= 50.0, report
    assert [row["threshold"] for row in report["calibration"]][:3] == [0.1, 0.2, 0.25]


def test_eval_reader_refuses_a_file_that_is_not_squad(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"questions": []}')
    assert main(["eval", "reader", "--squad", str(bad), "--quiet"]) == 2
    assert "SQuAD format" in capsys.readouterr().err
