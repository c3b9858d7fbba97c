"""The reranker's SQuAD pairs: own paragraph positive, same-article and other-article negatives, held-out articles unseen."""

from __future__ import annotations

from training.reader import QAExample, title_is_held_out
from training.reranker import RerankerConfig, squad_pairs


def example(i: int, title: str, context: str) -> QAExample:
    return QAExample(str(i), title, f"question {i}?", context, (("x", 0),), False, "f.json")


def test_pairs_are_labelled_and_held_out_articles_never_appear():
    titles = [f"Article {n}" for n in range(12)]
    examples = [example(n * 10 + p, t, f"{t} paragraph {p}") for n, t in enumerate(titles) for p in range(4)]
    config = RerankerConfig(squad_questions=1000, holdout_fraction=0.3)
    pairs = squad_pairs(examples, config)
    held = {t for t in titles if title_is_held_out(t, 0.3)}
    assert held and all(not any(p[1].startswith(t + " ") for t in held) for p in pairs)
    positives = [p for p in pairs if p[2] == 1.0]
    assert len(positives) == len([e for e in examples if e.title not in held])
    by_question = {}
    for question, passage, label in pairs:
        by_question.setdefault(question, []).append((passage, label))
    for question, rows in by_question.items():
        assert sum(label for _, label in rows) == 1.0 and len(rows) == 4  # own, two of its article, one elsewhere
