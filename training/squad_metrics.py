"""The official SQuAD v1.1/v2.0 answer metrics: exact match and token F1 after the official normalisation.

Normalisation (from the official evaluation script): lower-case, drop punctuation, drop the articles
"a", "an", "the", collapse whitespace. A prediction is scored against every gold answer and keeps its
best score; an unanswerable question (no gold answers) scores 1 only for an empty prediction.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        # SQuAD 2.0: an empty answer against an empty gold is right, against anything else wrong.
        return float(predicted == expected)
    common = collections.Counter(predicted) & collections.Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the best over the gold answers; no gold means unanswerable."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(exact_match(prediction, g) for g in golds), max(token_f1(prediction, g) for g in golds)


def aggregate(rows: Iterable[tuple[float, float, bool]], with_no_answer: bool) -> dict:
    """rows: (exact match, F1, has an answer) per question → the SQuAD report in percent."""
    rows = list(rows)
    n = len(rows)
    report = {
        "n": n,
        "exact_match": round(100 * sum(r[0] for r in rows) / n, 2) if n else 0.0,
        "f1": round(100 * sum(r[1] for r in rows) / n, 2) if n else 0.0,
    }
    if with_no_answer:
        has = [r for r in rows if r[2]]
        no = [r for r in rows if not r[2]]
        report["has_ans_n"], report["no_ans_n"] = len(has), len(no)
        report["has_ans_f1"] = round(100 * sum(r[1] for r in has) / len(has), 2) if has else 0.0
        report["no_ans_f1"] = round(100 * sum(r[1] for r in no) / len(no), 2) if no else 0.0
    return report
