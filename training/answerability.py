"""Fit the answer-or-abstain model (answering.answerability) on a store question set.

Each single-turn question of the train split is run through both candidate paths; a candidate is
labelled right when its text holds a gold answer (unanswerable questions: never right). One logistic
model per path is fitted on the train split; the threshold is the lowest probability at which the
validation split's wrong-and-confident share stays within `max_wrong` (the issue's 3%). Questions the
catalog answers (a named product) never reach this model and are left out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from answering.answerability import FEATURES, AnswerabilityModel, CalibratedAnswerer, LogisticModel
from training.store_eval import StoreQuestion, score_reply


def collect(answerer: CalibratedAnswerer, questions: Sequence[StoreQuestion], batch: int = 16, progress: bool = True):
    """Every candidate's features and label (its text holds a gold answer), and its question's index."""
    rows, labels, owners = [], [], []
    for first in tqdm(range(0, len(questions), batch), desc="reading", unit="batch", disable=not progress):
        chunk = questions[first: first + batch]
        for offset, (q, found) in enumerate(zip(chunk, answerer.candidates([q.question for q in chunk]))):
            for candidate in found:
                rows.append(candidate.features)
                labels.append(score_reply(q, {"kind": "answer", "text": candidate.reply.text}) == "right")
                owners.append(first + offset)
    return np.array(rows), np.array(labels, dtype=float), np.array(owners)


def decide_all(model: LogisticModel, x: np.ndarray, labels: np.ndarray, owners: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The chosen candidate's probability and whether it is right, per question."""
    p = model.probability(x)
    best_p, best_right = np.full(n, -1.0), np.zeros(n, dtype=bool)
    for probability, right, owner in zip(p, labels, owners):
        if probability > best_p[owner]:
            best_p[owner], best_right[owner] = probability, right > 0.5
    return best_p, best_right


def choose_threshold(p: np.ndarray, right: np.ndarray, answerable: np.ndarray, max_wrong: float) -> tuple[float, list[dict]]:
    """The lowest threshold whose wrong-and-confident share is within max_wrong, and the whole curve."""
    curve = []
    chosen = 1.0
    for t in np.round(np.arange(0.05, 1.0, 0.025), 3):
        answered = p >= t
        wrong = float((answered & ~right).mean())
        row = {"threshold": float(t), "accuracy": round(float(((answered & right) | (~answered & ~answerable)).mean()), 4),
               "wrong_confident": round(wrong, 4), "abstained_on_answerable": round(float((~answered & answerable).sum() / max(answerable.sum(), 1)), 4),
               "declined_unanswerable": round(float((~answered & ~answerable).sum() / max((~answerable).sum(), 1)), 4)}
        curve.append(row)
        if wrong <= max_wrong and chosen == 1.0:
            chosen = float(t)
    return chosen, curve


def fit_answerability(answerer: CalibratedAnswerer, train: Sequence[StoreQuestion], validation: Sequence[StoreQuestion],
                      max_wrong: float = 0.03, l2: float = 1.0, progress: bool = True) -> tuple[AnswerabilityModel, dict[str, Any]]:
    x_train, y_train, own_train = collect(answerer, train, progress=progress)
    model = LogisticModel.fit(x_train, y_train, l2=l2)
    x_val, y_val, own_val = collect(answerer, validation, progress=progress)
    p_val, right_val = decide_all(model, x_val, y_val, own_val, len(validation))
    answerable_val = np.array([q.answerable for q in validation])
    threshold, curve = choose_threshold(p_val, right_val, answerable_val, max_wrong)
    p_train, right_train = decide_all(model, x_train, y_train, own_train, len(train))
    _, train_curve = choose_threshold(p_train, right_train, np.array([q.answerable for q in train]), max_wrong)
    at = lambda rows: next((r for r in rows if r["threshold"] == threshold), None)  # noqa: E731
    found_val = np.zeros(len(validation), dtype=bool)
    for right, owner in zip(y_val, own_val):
        found_val[owner] |= right > 0.5
    report = {
        "train_questions": len(train), "validation_questions": len(validation), "threshold": threshold,
        "validation_at_threshold": at(curve), "train_at_threshold": at(train_curve),
        # How often some candidate was right: the most any threshold could reach on answerable questions.
        "validation_answerable_with_a_right_candidate": round(float(found_val[answerable_val].mean()), 4),
        "weights": dict(zip(FEATURES, (round(w, 3) for w in model.weights))),
        "validation_curve": curve,
    }
    meta = {k: report[k] for k in ("train_questions", "validation_questions", "validation_at_threshold", "train_at_threshold")}
    return AnswerabilityModel({"candidate": model}, threshold, {**meta, "max_wrong": max_wrong, "l2": l2}), report
