"""A labelled store question set: its format, its train/validation split, its check against the
store's documents, and the scoring of the bot's replies.

One JSON object per line (JSONL):

    {"id": "returns-007", "question": "how long do i have to send stuff back",
     "answers": ["30 days from the date of delivery", "30 days"],
     "source": "policies/returns.md", "section": "Return Window"}
    {"id": "none-012", "question": "do u do gift wrapping", "answers": []}
    {"id": "follow-003", "turns": ["do you ship to canada?", "how much is it"],
     "answers": ["$14.95"], "source": "policies/shipping.md", "section": "International Shipping"}

`answers` are exact quotes of the source document (any one is right); an empty list means the
documents do not answer the question. `turns` asks the earlier turns first, in the same
conversation, and scores the last. `source` is the file relative to the store folder, `section` a
heading on the answer's path (for the catalog: the product's title or SKU). The split is not chosen
by hand: a question is in validation when its document section hashes there (unanswerable ones by
their id), so no section's wording is tuned on and measured at once.
"""

from __future__ import annotations

import json
import re
import string
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from core.errors import BotError
from knowledge_base.loaders import discover, load_document

VALIDATION_SHARE = 30  # percent of sections (and of unanswerable ids) held for validation
# Kinds of reply that claim nothing: "I don't know" in some honest form, or a question back ("what is
# your order number?"). Every other kind makes a claim and is right or wrong.
ABSTAINING_KINDS = frozenset({"not_sure", "clarify", "handoff", "ask"})
Outcome = Literal["right", "wrong", "abstained", "error"]


class QuestionSetError(BotError):
    http_status = 400


@dataclass(frozen=True, slots=True)
class StoreQuestion:
    question_id: str
    turns: tuple[str, ...]  # earlier turns first; the last one is scored
    answers: tuple[str, ...]  # empty: the documents do not answer it
    source: str = ""
    section: str = ""
    tags: tuple[str, ...] = field(default=(), compare=False)

    @property
    def question(self) -> str:
        return self.turns[-1]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def split(self) -> Literal["train", "validation"]:
        key = f"{self.source}#{self.section.lower()}" if self.answerable else self.question_id
        return "validation" if zlib.crc32(key.encode()) % 100 < VALIDATION_SHARE else "train"

    @property
    def kind(self) -> Literal["answerable", "unanswerable", "follow_up"]:
        if len(self.turns) > 1:
            return "follow_up"
        return "answerable" if self.answerable else "unanswerable"


def parse_question(record: Any, where: str) -> StoreQuestion:
    if not isinstance(record, dict):
        raise QuestionSetError(f"{where}: expected a JSON object")
    question_id = record.get("id")
    if not isinstance(question_id, str) or not question_id:
        raise QuestionSetError(f"{where}: 'id' must be a non-empty string")
    if "turns" in record:
        turns = record["turns"]
        if not isinstance(turns, list) or len(turns) < 2:
            raise QuestionSetError(f"{where} ({question_id}): 'turns' must list at least two messages")
    else:
        turns = [record.get("question")]
    if not all(isinstance(t, str) and t.strip() for t in turns):
        raise QuestionSetError(f"{where} ({question_id}): every question must be non-empty text")
    answers = record.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise QuestionSetError(f"{where} ({question_id}): 'answers' must be a list of non-empty strings")
    source, section = record.get("source", ""), record.get("section", "")
    if answers and not (isinstance(source, str) and source and isinstance(section, str) and section):
        raise QuestionSetError(f"{where} ({question_id}): an answerable question needs 'source' and 'section'")
    tags = record.get("tags", [])
    return StoreQuestion(question_id, tuple(t.strip() for t in turns), tuple(answers), source or "", section or "",
                         tuple(str(t) for t in tags) if isinstance(tags, list) else ())


def load_questions(paths: Iterable[Path]) -> list[StoreQuestion]:
    questions: list[StoreQuestion] = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise QuestionSetError(f"cannot read {path}: {exc.strerror or exc}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuestionSetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            questions.append(parse_question(record, f"{path}:{number}"))
    seen = Counter(q.question_id for q in questions)
    repeated = sorted(i for i, n in seen.items() if n > 1)
    if repeated:
        raise QuestionSetError(f"question ids used more than once: {', '.join(repeated[:10])}")
    return questions


# ------------------------------------------------------------------ checking against the documents

def check_questions(questions: Sequence[StoreQuestion], sections: dict[str, list[tuple[tuple[str, ...], str]]]) -> list[str]:
    """Problems with the gold labels: `sections` maps each source (relative path) to its
    (heading path, text) pairs as the loader reads them. Every answer must be quoted exactly from a
    section of its source whose heading path names `section`."""
    problems = []
    for q in questions:
        if not q.answerable:
            continue
        if q.source not in sections:
            problems.append(f"{q.question_id}: no document {q.source!r}")
            continue
        wanted = q.section.lower()
        under = [(path, text) for path, text in sections[q.source]
                 if any(wanted == part.lower() for part in path) or wanted in text.lower()[:200]]
        if not under:
            problems.append(f"{q.question_id}: {q.source} has no section {q.section!r}")
            continue
        for answer in q.answers:
            if not any(_squash(answer) in _squash(text) for _, text in under):
                problems.append(f"{q.question_id}: {answer!r} is not quoted in {q.source} > {q.section}")
    return problems


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


# ------------------------------------------------------------------ scoring

_PUNCTUATION = set(string.punctuation) - {"$", "%"}


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,199.00 is 1199.00
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    return " ".join(text.split())


def score_reply(question: StoreQuestion, reply: dict[str, Any] | None) -> Outcome:
    """right: an answerable question answered with a gold answer in the reply's text, or an
    unanswerable one declined; abstained: an answerable one declined; wrong: any other claim."""
    if reply is None:
        return "error"
    kind = str(reply.get("kind", ""))
    if kind == "error":
        return "error"
    if kind in ABSTAINING_KINDS:
        return "abstained" if question.answerable else "right"
    if not question.answerable:
        return "wrong"
    said = normalise(str(reply.get("text", "")))
    return "right" if any(normalise(a) in said for a in question.answers) else "wrong"


@dataclass(slots=True)
class Tally:
    right: int = 0
    wrong: int = 0
    abstained: int = 0
    error: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def n(self) -> int:
        return self.right + self.wrong + self.abstained + self.error

    def to_dict(self) -> dict[str, Any]:
        n = max(self.n, 1)
        return {"n": self.n, "accuracy": round(self.right / n, 4), "wrong_confident": round(self.wrong / n, 4),
                "abstained": round(self.abstained / n, 4), "errors": self.error}


def summarise(results: Sequence[tuple[StoreQuestion, Outcome]]) -> dict[str, Any]:
    """Accuracy, wrong-and-confident and abstention overall and per split and kind. Abstention on
    the answerable part and declining on the unanswerable part are reported as the issue asks."""
    groups: dict[str, Tally] = {}

    def tally(name: str) -> Tally:
        return groups.setdefault(name, Tally())

    for q, outcome in results:
        for name in ("all", q.split, f"{q.split}/{q.kind}", q.kind):
            tally(name).add(outcome)
        topic = (q.source.rsplit("/", 1)[-1].split(".")[0] or "none") if q.answerable else "unanswerable"
        tally(f"topic/{topic}").add(outcome)
    summary = {name: t.to_dict() for name, t in sorted(groups.items())}
    for split in ("all", "train", "validation"):
        answerable = [o for q, o in results if q.answerable and (split == "all" or q.split == split)]
        unanswerable = [o for q, o in results if not q.answerable and (split == "all" or q.split == split)]
        target = summary.setdefault(split, Tally().to_dict())
        target["abstained_on_answerable"] = round(answerable.count("abstained") / max(len(answerable), 1), 4)
        target["declined_unanswerable"] = round(unanswerable.count("right") / max(len(unanswerable), 1), 4)
    return summary


def store_sections(store: Path) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Each file of a store folder, as the loader reads it, keyed by its path relative to the folder."""
    sections: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for root, file in discover([store]):
        document = load_document(root, file)
        sections[file.relative_to(root).as_posix()] = [(s.title_path, s.text) for s in document.sections]
    return sections
