"""Shared value types. Frozen dataclasses inside the program; dicts only at the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from core.slots import Slots

DocType = Literal["policy", "faq", "product", "article"]
Role = Literal["customer", "bot", "agent", "system"]
# How far the sender of a message is known: "verified" by a platform's signature or an integration's
# secret (a linked account may be used), "session" a widget session the server issued (unforgeable,
# but nobody in particular), "anonymous" a name the client chose (a stranger every time).
Trust = Literal["verified", "session", "anonymous"]


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
    # The channel's or client's id of this message: the same id again is the same message (a retry,
    # a replay after a restart), answered with the stored reply and never stored twice.
    message_id: str | None = None
    trust: Trust = "verified"
    # The client's network address as the server sees it (behind trusted proxies: X-Forwarded-For);
    # None for platform deliveries, which arrive from the platform.
    client: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerSpan:
    """The reader's exact answer: characters [start, end) of the passage the reply cites first."""

    text: str
    start: int
    end: int
    confidence: float

    def to_wire(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "confidence": round(float(self.confidence), 4)}


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    sources: tuple[Source, ...] = ()
    confidence: float = 0.0
    # answer / not_sure: from the knowledge base; order: a back-end action or status; ask: the bot needs a
    # detail (an order number, an e-mail); handoff: a person takes over; silent: a person owns the
    # conversation, so the bot says nothing; recommendation: catalog products (metadata["products"]);
    # refusal: a request the bot must not follow (its instructions, others' data, an invented discount).
    kind: Literal["answer", "clarify", "not_sure", "error", "greeting", "order", "ask", "handoff", "silent",
                  "recommendation", "refusal"] = "answer"
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Set by the reader on an answer: what the phrasing keeps word for word and the grounding checks.
    answer_span: AnswerSpan | None = None

    def custom(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "sources": [s.to_wire() for s in self.sources],
            "confidence": round(float(self.confidence), 4),
            "kind": self.kind,
        }
        for key in ("route", "intent", "handoff", "resolved_question", "products", "phrasing"):
            if key in self.metadata:
                wire[key] = self.metadata[key]
        return wire

    @classmethod
    def from_stored(cls, text: str, payload: dict[str, Any]) -> "Reply":
        """The reply as `custom()` stored it (a repeated message gets it again)."""
        sources = tuple(
            Source(s.get("document", ""), s.get("title", ""), s.get("passage", ""), float(s.get("score", 0.0)),
                   (s.get("title", ""), *(s["section"].split(" > ") if s.get("section") else ())))
            for s in payload.get("sources", ())
        )
        metadata = {k: payload[k] for k in ("route", "intent", "handoff", "resolved_question", "products", "phrasing") if k in payload}
        return cls(text, sources, float(payload.get("confidence", 0.0)), payload.get("kind", "answer"), {**metadata, "repeated": True})

    def with_text(self, text: str, **metadata: Any) -> "Reply":
        return Reply(text, self.sources, self.confidence, self.kind, {**self.metadata, **metadata}, self.answer_span)

    def with_text_metadata(self, metadata: dict[str, Any]) -> "Reply":
        return self.with_text(self.text, **metadata) if metadata else self


@dataclass(frozen=True, slots=True)
class Conversation:
    conversation_id: str
    channel: str
    sender: str
    created_at: datetime
    # "human" once handed off: the bot stays silent until an agent hands it back.
    owner: Literal["bot", "human"] = "bot"
    updated_at: datetime | None = None
    # What the dialogue remembers between turns (order number, products shown, a pending question...).
    slots: Slots = field(default_factory=Slots, hash=False, compare=False)
    handoff_reason: str = ""
    handoff_at: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "sender": self.sender,
            "owner": self.owner,
            "created_at": self.created_at.isoformat(),
            "updated_at": (self.updated_at or self.created_at).isoformat(),
            **({"handoff_reason": self.handoff_reason} if self.handoff_reason else {}),
            **({"handoff_at": self.handoff_at.isoformat()} if self.handoff_at else {}),
        }


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


@dataclass(frozen=True, slots=True)
class Exchange:
    """A customer message handled: its conversation and the reply."""

    conversation: Conversation
    reply: Reply
