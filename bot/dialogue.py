"""One customer message in, one reply out: validate, store, answer, store."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Awaitable, Callable

from bot.errors import BadRequest, BotError, MessageTooLarge
from bot.conversations import ConversationStore
from bot.types import Conversation, Message, Reply

log = logging.getLogger(__name__)

# Whole-message patterns only: "Thanks! And how long do refunds take?" is a question, not small talk.
_END = r"[\s!.,~:)！。，]*$"
_GREETING = re.compile(r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|你好|您好|嗨)(\s+there)?" + _END, re.I)
_THANKS = re.compile(r"^\s*(thanks?|thank you|thx|ty|cheers|谢谢|多谢)(\s+(a lot|so much|very much|again))?" + _END, re.I)
_BYE = re.compile(r"^\s*(bye|goodbye|see you|再见)" + _END, re.I)

SMALL_TALK = {
    "greeting": {
        "en": "Hi! I'm the Northwind virtual assistant. Ask me about returns, shipping, payment, warranty or your account.",
        "zh": "您好！我是 Northwind 虚拟助手。您可以问我关于退货、配送、付款、保修或账户的问题。",
    },
    "thanks": {"en": "You're welcome! Is there anything else I can help with?", "zh": "不客气！还有什么可以帮您的吗？"},
    "bye": {"en": "Thanks for chatting. Have a great day!", "zh": "感谢您的咨询，祝您愉快！"},
}
SORRY = "Sorry, something went wrong on our side and I couldn't answer. Please try again in a moment."


@dataclass(frozen=True, slots=True)
class Exchange:
    conversation: Conversation
    reply: Reply


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


def small_talk(text: str) -> Reply | None:
    from knowledge_base.text import detect_language

    language = detect_language(text)
    for kind, pattern in (("greeting", _GREETING), ("thanks", _THANKS), ("bye", _BYE)):
        if pattern.match(text) and len(text) < 60:
            return Reply(SMALL_TALK[kind].get(language, SMALL_TALK[kind]["en"]), confidence=1.0, kind="greeting")
    return None


class DialogueService:
    def __init__(self, store: ConversationStore, answer: Callable[[str], Awaitable[Reply]], max_message_chars: int = 2000) -> None:
        self.store = store
        self.answer = answer
        self.max_message_chars = max_message_chars

    async def handle(self, message: Message) -> Exchange:
        text = clean_text(message.text, self.max_message_chars)
        conversation = await self.store.conversation_for(message.channel, message.sender)
        # The customer's words are committed before any model runs: a crash loses no message.
        await self.store.append(conversation.conversation_id, "customer", text, {"channel": message.channel})
        reply = small_talk(text)
        if reply is None:
            try:
                reply = await self.answer(text)
            except BotError as exc:
                if exc.http_status >= 500 and exc.http_status != 503:
                    log.error("answering failed: %s", exc.message)
                reply = Reply(SORRY if exc.http_status != 503 else exc.message, kind="error")
            except Exception:
                log.exception("answering failed")
                reply = Reply(SORRY, kind="error")
        await self.store.append(conversation.conversation_id, "bot", reply.text, reply.custom())
        return Exchange(conversation, reply)
