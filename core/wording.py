"""What the bot says, and how it reads a customer's words, the same way on every channel and in the
Rasa action server."""

from __future__ import annotations

import unicodedata

from core.errors import BadRequest, MessageTooLarge

SORRY = "Sorry, something went wrong on our side and I couldn't answer. Please try again in a moment."

HANDOFF_TEXT = {
    "contact_human_agent": "Of course. I'm passing this conversation to a member of our support team; they'll reply right here.",
    "angry_complaint": "I'm really sorry about this. I'm passing this conversation to a member of our support team now; they'll reply right here.",
    "repeated_failure": "I'm sorry I couldn't answer that. I'm passing this conversation to a member of our support team; they'll reply right here.",
    "verification_failed": "I couldn't match that order to your details, so I'm passing this conversation to a member of our support team, who can check it with you.",
    "order_locked": "For your security, that order can't be checked here for a while after several wrong e-mail addresses. I'm passing this conversation to a member of our support team, who can help you.",
}


def handoff_text(reason: str, support_hours: str) -> str:
    """What the customer is told when a person takes over, on every channel and the Rasa action server."""
    return HANDOFF_TEXT[reason] + (f" {support_hours}" if support_hours else "")


def clean_text(text: object, max_chars: int) -> str:
    """Normalise a customer's text, or raise a 4xx error that says what is wrong with it."""
    if not isinstance(text, str):
        raise BadRequest("message must be a string")
    # Control characters (NUL and friends) are dropped; newlines and tabs are kept as spaces.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text)
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise BadRequest("message is empty")
    if len(text) > max_chars:
        raise MessageTooLarge(
            f"message is {len(text)} characters; the limit is {max_chars}", length=len(text), limit=max_chars
        )
    return text
