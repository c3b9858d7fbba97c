"""The answer-or-abstain model: its fit, its threshold, its file, and the decision it makes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from answering.answerability import FEATURES, AnswerabilityError, AnswerabilityModel, CalibratedAnswerer, Candidate, LogisticModel
from core.types import Reply
from training.answerability import choose_threshold, decide_all


def test_logistic_fit_learns_the_signal_and_ignores_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    model = LogisticModel.fit(x, y)
    assert abs(model.weights[0]) > 5 * max(abs(model.weights[1]), abs(model.weights[2]))
    p = model.probability(x)
    assert ((p > 0.5) == (y > 0.5)).mean() > 0.95


def test_threshold_is_the_lowest_within_the_wrong_budget():
    p = np.array([0.9, 0.8, 0.6, 0.4, 0.2])
    right = np.array([True, True, False, True, False])
    answerable = np.array([True, True, True, True, False])
    threshold, curve = choose_threshold(p, right, answerable, max_wrong=0.0)
    assert threshold == pytest.approx(0.625)  # 0.6 (wrong) is the first probability it must refuse
    at = next(r for r in curve if r["threshold"] == threshold)
    assert at["wrong_confident"] == 0.0 and at["accuracy"] == pytest.approx(0.6) and at["declined_unanswerable"] == 1.0


def test_decide_all_keeps_each_questions_most_likely_candidate():
    model = LogisticModel((1.0,), 0.0, (0.0,), (1.0,))
    x = np.array([[2.0], [-1.0], [0.5]])
    p, right = decide_all(model, x, np.array([0.0, 1.0, 1.0]), np.array([0, 0, 1]), 2)
    assert list(right) == [False, True] and p[0] == pytest.approx(1 / (1 + np.exp(-2)))


def test_model_file_round_trip_and_a_stale_one_is_refused(tmp_path):
    model = AnswerabilityModel({"candidate": LogisticModel((0.1,) * len(FEATURES), -1.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES))},
                               0.6, {"reader": True})
    model.save(tmp_path)
    loaded = AnswerabilityModel.load(tmp_path)
    assert loaded.threshold == 0.6 and loaded.meta["reader"] and loaded.models["candidate"] == model.models["candidate"]
    payload = json.loads((tmp_path / "answerability.json").read_text())
    payload["features"] = ["something", "else"]
    (tmp_path / "answerability.json").write_text(json.dumps(payload))
    with pytest.raises(AnswerabilityError, match="other features"):
        AnswerabilityModel.load(tmp_path)
    with pytest.raises(AnswerabilityError, match="cannot load"):
        AnswerabilityModel.load(tmp_path / "missing")


def candidate(text: str, score: float) -> Candidate:
    x = np.zeros(len(FEATURES))
    x[FEATURES.index("fused_score")] = score
    return Candidate(Reply(text, kind="answer"), x)


def calibrated(threshold: float) -> CalibratedAnswerer:
    weights = tuple(1.0 if f == "fused_score" else 0.0 for f in FEATURES)
    model = AnswerabilityModel({"candidate": LogisticModel(weights, 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES))}, threshold, {})
    return CalibratedAnswerer(quoting=None, reading=None, model=model)  # type: ignore[arg-type]


def test_the_most_likely_candidate_is_sent_when_it_clears_the_threshold():
    reply = calibrated(0.7).decide([candidate("weak", 0.0), candidate("strong", 2.0)])
    assert reply.kind == "answer" and reply.text == "strong" and reply.confidence == pytest.approx(1 / (1 + np.exp(-2)))
    assert reply.metadata["answered_by"] == "quote"


def test_below_the_threshold_it_says_it_does_not_know():
    reply = calibrated(0.95).decide([candidate("strong", 2.0)])
    assert reply.kind == "not_sure" and "not sure" in reply.text
    assert calibrated(0.5).decide([]).kind == "not_sure"
