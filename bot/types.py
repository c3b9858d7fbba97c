"""Shared value types. Frozen dataclasses inside the program; dicts only at the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

DocType = Literal["policy", "faq", "product", "article"]
Role = Literal["customer", "bot", "agent", "system"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def indexed_text(title_path: tuple[str, ...], text: str) -> str:
    """What the indexes see: the heading path gives a passage the context its own text lacks."""
    return " > ".join(title_path) + "\n" + text


@dataclass(frozen=True, slots=True)
class Document:
    """One source file's worth of text, before chunking."""

    doc_id: str  # stable id: the path relative to the ingested root, plus a row key for CSVs
    title: str
    doc_type: DocType
    language: str
    sections: tuple[Section, ...]
    source_path: str
    checksum: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading path (document title first)."""

    title_path: tuple[str, ...]
    text: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit of retrieval and citation."""

    passage_id: int
    doc_id: str
    title: str
    title_path: tuple[str, ...]
    text: str
    doc_type: DocType
    language: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def indexed_text(self) -> str:
        return indexed_text(self.title_path, self.text)


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    passage: Passage
    score: float  # fused retrieval score, higher is better
    dense_score: float | None = None  # cosine similarity to the query, when the dense index saw it
    sparse_score: float | None = None  # raw BM25 score, when the BM25 index saw it


@dataclass(frozen=True, slots=True)
class RetrievalFilters:
    doc_types: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None

    def accepts(self, passage: Passage) -> bool:
        if self.doc_types and passage.doc_type not in self.doc_types:
            return False
        if self.languages and passage.language not in self.languages:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Source:
    """A citation: the exact passage an answer relied on."""

    document: str
    title: str
    passage: str
    score: float
    title_path: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "title": self.title,
            "section": " > ".join(self.title_path[1:]),
            "passage": self.passage,
            "score": round(float(self.score), 4),
        }


@dataclass(frozen=True, slots=True)
class Message:
    """A customer's message, once its channel has been translated away."""

    channel: str
    sender: str
    text: str
    received_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    sources: tuple[Source, ...] = ()
    confidence: float = 0.0
    kind: Literal["answer", "not_sure", "error", "greeting"] = "answer"
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def custom(self) -> dict[str, Any]:
        return {
            "sources": [s.to_wire() for s in self.sources],
            "confidence": round(float(self.confidence), 4),
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class Conversation:
    conversation_id: str
    channel: str
    sender: str
    created_at: datetime
    owner: Literal["bot", "human"] = "bot"


@dataclass(frozen=True, slots=True)
class StoredTurn:
    turn_id: int
    conversation_id: str
    role: Role
    text: str
    created_at: datetime
    payload: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.turn_id,
            "role": self.role,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            **({"custom": self.payload} if self.payload else {}),
        }
