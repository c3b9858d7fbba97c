"""The official SQuAD metrics: normalisation, exact match, token F1, unanswerable questions."""

from __future__ import annotations

import pytest

from training.squad_metrics import aggregate, exact_match, normalize_answer, score, token_f1


def test_normalisation_drops_case_punctuation_articles_and_extra_space():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    # Articles only as whole words: "theory" keeps its "the".
    assert normalize_answer("Theory of the Firm") == "theory of firm"


def test_exact_match_and_f1_of_partial_overlap():
    assert exact_match("the Broncos", "Broncos") == 1.0
    assert token_f1("Denver Broncos", "Broncos") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert token_f1("Carolina Panthers", "Denver Broncos") == 0.0


def test_a_prediction_keeps_its_best_score_over_the_gold_answers():
    assert score("thirty days", ["30 days", "thirty days", "a month"]) == (1.0, 1.0)


def test_unanswerable_questions_score_only_an_empty_prediction():
    assert score("", []) == (1.0, 1.0)
    assert score("30 days", []) == (0.0, 0.0)
    assert score("", ["30 days"]) == (0.0, 0.0)


def test_aggregate_reports_percentages_and_the_v2_split():
    rows = [(1.0, 1.0, True), (0.0, 0.5, True), (1.0, 1.0, False), (0.0, 0.0, False)]
    report = aggregate(rows, with_no_answer=True)
    assert report == {"n": 4, "exact_match": 50.0, "f1": 62.5, "has_ans_n": 2, "no_ans_n": 2, "has_ans_f1": 75.0, "no_ans_f1": 50.0}
    assert set(aggregate(rows[:2], with_no_answer=False)) == {"n", "exact_match", "f1"}


def test_chinese_answers_are_scored_by_character_as_cmrc_does():
    from training.squad_metrics import cmrc_segments, score

    assert cmrc_segments("Apple公司于2007年发布iPhone。") == ["apple", "公", "司", "于", "2007", "年", "发", "布", "iphone"]
    assert score("1963年", ["1963年"]) == (1.0, 1.0)
    assert score("1963年。", ["1963年"]) == (1.0, 1.0)  # CMRC's punctuation is dropped
    em, f1 = score("在1963年", ["1963年"])  # precision 2/3, recall 1
    assert em == 0.0 and f1 == pytest.approx(0.8)
    # F1 counts the longest common *contiguous* run, not the bag of characters.
    assert score("年1963", ["1963年"])[1] == pytest.approx(2 * 0.5 * 0.5 / 1.0)
    assert score("", ["1963年"]) == (0.0, 0.0)
    assert score("北京", ["上海", "北京市"])[1] == pytest.approx(0.8)  # the best gold answer counts
