"""SQuAD-format files as documents and questions, for the retrieval (and later reader) evaluations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import DocumentError
from core.types import Document, Section
from knowledge_base.text import detect_language


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    qid: str
    question: str
    doc_id: str
    answers: tuple[str, ...]
    is_impossible: bool


def paragraph_doc_id(context: str) -> str:
    # Keyed by content: a paragraph present in two files (v1.1 and v2.0 share articles) is one document.
    return "squad/" + hashlib.sha1(context.encode("utf-8")).hexdigest()[:16]


def read_squad_articles(path: Path) -> list[dict]:
    """The "data" list of a SQuAD-format file, or a DocumentError that says what is wrong with it."""
    path = Path(path)
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    except FileNotFoundError:
        raise DocumentError(str(path), "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(str(path), f"not a JSON file: {exc}") from None
    except (KeyError, TypeError):
        raise DocumentError(str(path), 'not in SQuAD format (no top-level "data" list)') from None
    if not isinstance(articles, list):
        raise DocumentError(str(path), 'not in SQuAD format (no top-level "data" list)')
    return articles


def load_squad(path: Path) -> tuple[list[Document], list[SquadQuestion]]:
    path = Path(path)
    articles = read_squad_articles(path)
    documents: dict[str, Document] = {}
    questions: list[SquadQuestion] = []
    for article in articles:
        title = str(article.get("title", "")).replace("_", " ").strip() or path.stem
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context", "")
            if not context.strip():
                continue
            doc_id = paragraph_doc_id(context)
            documents.setdefault(
                doc_id,
                Document(
                    doc_id=doc_id,
                    title=title,
                    doc_type="article",
                    language=detect_language(context),
                    sections=(Section((title,), context),),
                    source_path=str(path),
                    checksum=hashlib.sha256(context.encode("utf-8")).hexdigest(),
                ),
            )
            for qa in paragraph.get("qas", []):
                questions.append(
                    SquadQuestion(
                        qid=str(qa.get("id", len(questions))),
                        question=qa.get("question", ""),
                        doc_id=doc_id,
                        answers=tuple(a.get("text", "") for a in qa.get("answers", [])),
                        is_impossible=bool(qa.get("is_impossible", False)),
                    )
                )
    return list(documents.values()), questions
