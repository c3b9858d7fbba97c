"""Follow-ups: a customer's next message often leans on the last one ("and to Canada?", "what if I
paid with PayPal?"). Rewrites for the cases a rule gets right, and the question in context for the rest."""

from __future__ import annotations

import re

from bot.entities import Entities
from core.slots import Slots
from core.types import Reply
from knowledge_base.text import tokenize

_FOLLOW_UP = re.compile(r"^\s*(and|also|what about|how about|plus)\b", re.I)
_FOLLOW_UP_LEAD = re.compile(r"^\s*(and|also|plus)\b[\s,]*", re.I)
_THERE = re.compile(r"\b(over )?there\b", re.I)
# Words that point back at the conversation ("it", "that", "what if"), or a message too short to stand alone.
_LEANS_BACK = re.compile(r"\b(?:it|its|that|this|those|these|them|they|there|then|she|he|one|ones|what about|how about|"
                         r"what if|and if|instead|also|too|either)\b|^\s*(?:and|or|but|so|ok|okay)\b", re.I)
MAX_CONTEXT_CHARS = 300


def resolve_follow_up(text: str, slots: Slots, entities: Entities) -> str:
    """Rewrite a follow-up into a question that stands alone, using what the conversation said before:
    "and how much does it cost to ship there?" after "Do you ship to Canada?" asks about Canada."""
    destination = slots.destination
    if destination and not entities.destinations and _THERE.search(text):
        text = _THERE.sub(f"to {destination}", text, count=1).replace("to to ", "to ")
        if _FOLLOW_UP_LEAD.match(text):
            text = _FOLLOW_UP_LEAD.sub("", text).strip()
            text = text[:1].upper() + text[1:]
        return text
    last = slots.last_question
    if last and entities.destinations and _FOLLOW_UP.match(text) and len(text.split()) <= 6:
        # "what about Europe?" after "How much is shipping to Canada?" repeats that question for Europe.
        previous = slots.last_destination
        if previous and previous in last:
            return last.replace(previous, entities.destinations[0])
    return text


def in_context(text: str, slots: Slots) -> str | None:
    """The last question and this message together, when this one seems to lean on it (the answerer
    then weighs both readings and keeps the one it is surer of); None when it stands alone."""
    last = slots.last_question
    words = text.split()
    if not last or len(words) > 14 or not (len(words) <= 4 or _LEANS_BACK.search(text)):
        return None
    return f"{last[-MAX_CONTEXT_CHARS:]} {text}"


def supports(reply: Reply, text: str) -> bool:
    """Does the answer read in context speak to this message at all? Its passage must hold one of the
    message's own content words ("paypal", "express"), or a new question ("do you sell submarines?")
    would get the last answer again."""
    words = set(tokenize(text))
    cited = " ".join(s.passage + " " + " ".join(s.title_path) for s in reply.sources) or reply.text
    return bool(words & set(tokenize(cited)))
