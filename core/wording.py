"""What the bot says, and how it reads a customer's words, the same way on every channel and in the
Rasa action server. Texts are kept per language ("en", "zh": Simplified Chinese), English first; a
language without its own text gets the English one."""

from __future__ import annotations

import unicodedata

from core.errors import BadRequest, MessageTooLarge

SORRY_TEXT = {
    "en": "Sorry, something went wrong on our side and I couldn't answer. Please try again in a moment.",
    "zh": "抱歉，我们这边出了点问题，暂时无法回答您。请稍后再试。",
}
SORRY = SORRY_TEXT["en"]

HANDOFF_TEXT = {
    "contact_human_agent": {
        "en": "Of course. I'm passing this conversation to a member of our support team; they'll reply right here.",
        "zh": "好的。我正在将此对话转接给我们的客服人员，他们会直接在这里回复您。",
    },
    "angry_complaint": {
        "en": "I'm really sorry about this. I'm passing this conversation to a member of our support team now; they'll reply right here.",
        "zh": "非常抱歉给您带来不好的体验。我现在就将此对话转接给我们的客服人员，他们会直接在这里回复您。",
    },
    "repeated_failure": {
        "en": "I'm sorry I couldn't answer that. I'm passing this conversation to a member of our support team; they'll reply right here.",
        "zh": "抱歉，我没能回答您的问题。我正在将此对话转接给我们的客服人员，他们会直接在这里回复您。",
    },
    "verification_failed": {
        "en": "I couldn't match that order to your details, so I'm passing this conversation to a member of our support team, who can check it with you.",
        "zh": "我无法将该订单与您提供的信息对应起来，因此正在将此对话转接给我们的客服人员，他们可以和您一起核实。",
    },
    "order_locked": {
        "en": "For your security, that order can't be checked here for a while after several wrong e-mail addresses. I'm passing this conversation to a member of our support team, who can help you.",
        "zh": "为了您的账户安全，由于多次输入了错误的邮箱地址，该订单暂时无法在这里查询。我正在将此对话转接给我们的客服人员，他们会为您提供帮助。",
    },
}


def in_language(texts: dict[str, str], language: str) -> str:
    """The text for `language`, or the English one where there is none."""
    return texts.get(language, texts["en"])


def sorry(language: str = "en") -> str:
    return in_language(SORRY_TEXT, language)


def handoff_text(reason: str, support_hours: str, language: str = "en") -> str:
    """What the customer is told when a person takes over, on every channel and the Rasa action server.
    The support hours are the operator's own words and are appended as they are."""
    return in_language(HANDOFF_TEXT[reason], language) + (f" {support_hours}" if support_hours else "")


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
