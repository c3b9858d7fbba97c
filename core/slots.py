"""What the bot remembers of a conversation between messages, typed.

The dialogue (bot.dialogue) and product suggestions (answering.writing.Shopping) read and change a
`Slots`; only the conversation store turns it into a dict (JSON in its database) and back. Reading
back is lenient: a value of the wrong type, or a key this version does not know (a database written
by another version), is dropped rather than failing the customer's next message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Need = Literal["order_number", "email", "confirm"]
NEEDS: tuple[str, ...] = ("order_number", "email", "confirm")


@dataclass(slots=True)
class PendingQuestion:
    """A question the bot asked and the next message may answer."""

    need: Need
    action: str = ""  # the order action waiting for the answer: track_order, cancel_order, ...
    order_number: str | None = None
    asked: int = 1  # times asked; after the second, the bot lets it go
    language: str = "en"  # the language the question was asked in ("en", "zh")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"need": self.need}
        if self.action:
            out["action"] = self.action
        if self.order_number:
            out["order_number"] = self.order_number
        if self.asked != 1:
            out["asked"] = self.asked
        if self.language != "en":
            out["language"] = self.language
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> "PendingQuestion | None":
        if not isinstance(raw, dict) or raw.get("need") not in NEEDS:
            return None
        asked = raw.get("asked", 1)
        language = raw.get("language")
        return cls(raw["need"], _text(raw.get("action")) or "", _text(raw.get("order_number")),
                   asked if isinstance(asked, int) and asked > 0 else 1,
                   language if isinstance(language, str) and language else "en")


@dataclass(slots=True)
class Slots:
    pending: PendingQuestion | None = None
    # The order being discussed, and the e-mail address the customer proved it with (this session).
    order_number: str | None = None
    verified_email: str | None = None
    verification_failures: int = 0
    # Consecutive questions the knowledge base could not answer (a person is offered after a few).
    failures: int = 0
    # Follow-ups: "and how much is it to ship there?" after "Do you ship to Canada?".
    destination: str | None = None
    last_question: str | None = None
    last_destination: str | None = None
    # Product suggestions: SKUs shown last, and the customer's recent shopping requests.
    shown_products: list[str] = field(default_factory=list)
    shopping_requests: list[str] = field(default_factory=list)

    def copy(self) -> "Slots":
        pending = dataclasses.replace(self.pending) if self.pending is not None else None
        return dataclasses.replace(self, pending=pending, shown_products=list(self.shown_products),
                                   shopping_requests=list(self.shopping_requests))

    def after_handback(self) -> "Slots":
        """A fresh start for the bot when an agent hands back: no half-finished question or failure
        count from before the handoff; who the customer proved to be, and their order, stay."""
        return Slots(order_number=self.order_number, verified_email=self.verified_email)

    def to_dict(self) -> dict[str, Any]:
        """Only what is set: an empty conversation stores {}."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, PendingQuestion):
                out[f.name] = value.to_dict()
            elif value not in (None, 0, [], ""):
                out[f.name] = list(value) if isinstance(value, list) else value
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> "Slots":
        if not isinstance(raw, dict):
            return cls()
        return cls(
            pending=PendingQuestion.from_dict(raw.get("pending")),
            order_number=_text(raw.get("order_number")),
            verified_email=_text(raw.get("verified_email")),
            verification_failures=_count(raw.get("verification_failures")),
            failures=_count(raw.get("failures")),
            destination=_text(raw.get("destination")),
            last_question=_text(raw.get("last_question")),
            last_destination=_text(raw.get("last_destination")),
            shown_products=_texts(raw.get("shown_products")),
            shopping_requests=_texts(raw.get("shopping_requests")),
        )


def _text(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # an order number stored as a number by an older version
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _texts(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
