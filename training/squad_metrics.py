"""The official SQuAD v1.1/v2.0 answer metrics: exact match and token F1 after the official normalisation.

Normalisation (from the official evaluation script): lower-case, drop punctuation, drop the articles
"a", "an", "the", collapse whitespace. A prediction is scored against every gold answer and keeps its
best score; an unanswerable question (no gold answers) scores 1 only for an empty prediction.

Chinese answers are scored as CMRC 2018's official script scores them: lower-case, drop its
punctuation list, one segment per Chinese character (runs of other characters split into words;
the script uses NLTK's tokenizer there, a word/punctuation regex here), F1 from the longest common
*contiguous* run of segments, exact match on the text without punctuation.
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


_CMRC_PUNCTUATION = set("-:_*^/\\~`+=，。：？！“”；’《》……·、「」（）－～『』")
_CHINESE = re.compile(r"[\u4e00-\u9fa5]")
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def is_chinese(text: str) -> bool:
    return bool(_CHINESE.search(text))


def cmrc_segments(text: str) -> list[str]:
    segments: list[str] = []
    run = ""
    for ch in text.lower().strip():
        if ch in _CMRC_PUNCTUATION:
            continue
        if _CHINESE.match(ch):
            segments.extend(_WORDS.findall(run))
            run = ""
            segments.append(ch)
        else:
            run += ch
    segments.extend(_WORDS.findall(run))
    return segments


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def cmrc_f1(prediction: str, gold: str) -> float:
    predicted, expected = cmrc_segments(prediction), cmrc_segments(gold)
    common = _longest_common_run(expected, predicted)
    if common == 0:
        return float(not predicted and not expected)
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def cmrc_exact_match(prediction: str, gold: str) -> float:
    def strip(text: str) -> str:
        return "".join(ch for ch in text.lower().strip() if ch not in _CMRC_PUNCTUATION)

    return float(strip(prediction) == strip(gold))


def score(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the best over the gold answers; no gold means unanswerable."""
    if any(is_chinese(g) for g in golds):
        return max(cmrc_exact_match(prediction, g) for g in golds), max(cmrc_f1(prediction, g) for g in golds)
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
