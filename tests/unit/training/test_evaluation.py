"""The reader evaluation's pieces that need no model: abstention, the best no-answer margin, the ladder's calibration table."""

from __future__ import annotations

import math

from models.reader import ExtractedAnswer, ReaderResult
from training.evaluation import abstaining_prediction, best_margin, ladder_calibration


def result(best_score: float, null_score: float) -> ReaderResult:
    return ReaderResult((ExtractedAnswer("30 days", 0.6, best_score, 0, 0, 7, 0.7),), 0.3, null_score)


def test_abstention_follows_the_margin_and_never_happens_without_one():
    assert abstaining_prediction(result(5.0, 4.0), 0.0) == "30 days"
    assert abstaining_prediction(result(5.0, 6.0), 0.0) == ""
    assert abstaining_prediction(result(5.0, 6.0), 2.0) == "30 days"
    assert abstaining_prediction(result(5.0, 60.0), None) == "30 days"  # SQuAD 1.1: always answer
    assert abstaining_prediction(ReaderResult((), 1.0, 0.0), None) == ""


def test_best_margin_finds_the_threshold_that_scores_best():
    # (no-answer minus best, F1 if answered, F1 if abstained): two answerable, two unanswerable.
    margins = [(-3.0, 1.0, 0.0), (-1.0, 1.0, 0.0), (0.5, 0.0, 1.0), (2.0, 0.0, 1.0)]
    assert best_margin(margins) == (100.0, -1.0)
    assert best_margin([(math.inf, 0.0, 1.0)]) == (100.0, -1.0)  # no span at all: abstaining is all there is


def test_calibration_table_counts_coverage_quality_and_false_answers():
    rows = [(0.9, 1.0, False), (0.6, 0.5, False), (0.2, 0.0, False), (0.7, 0.0, True), (0.1, 0.0, True)]
    table = {row["threshold"]: row for row in ladder_calibration(rows, thresholds=(0.5, 0.8))}
    assert table[0.5] == {"threshold": 0.5, "answered": round(2 / 3, 4), "answered_f1": 75.0, "unanswerable_answered": 0.5}
    assert table[0.8] == {"threshold": 0.8, "answered": round(1 / 3, 4), "answered_f1": 100.0, "unanswerable_answered": 0.0}
