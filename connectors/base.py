"""What every channel adapter is: a signature check, a translation of the platform's webhook into
our messages, and a translation of our reply into the platform's API call. Nothing more: storing,
de-duplicating, answering and retrying are the dispatcher's (connectors/dispatch.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

from connectors.outbound import PlatformClient
from core.errors import BadRequest
from core.types import Reply


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's text as the platform delivered it, before the dialogue sees it."""

    channel: str
    # Who wrote, stable per customer on this channel: the key of their conversation.
    sender: str
    text: str
    # The platform's ids for this delivery (an update id, an event id, a message id). A delivery
    # any of whose keys was seen before is a retry or a replay and is not answered again.
    delivery_keys: tuple[str, ...]
    # Where the reply goes, in the platform's own terms (chat id, channel and thread, phone id...).
    address: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    messages: tuple[InboundMessage, ...] = ()
    # A handshake the platform expects echoed back (Slack's url_verification challenge).
    challenge: str | None = None
    # Why nothing is answered (a status update, an edit, a bot's own message), for logs and tests.
    ignored: tuple[str, ...] = ()


class Connector(Protocol):
    name: str  # also the conversation store's channel name
    path: str  # where the platform posts its webhooks
    text_limit: int  # longest text one platform message may carry

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise Unauthorized (missing credential) or Forbidden (wrong or stale) before any parsing."""

    def parse(self, payload: dict[str, Any]) -> WebhookResult:
        """The platform's webhook body → our messages; BadRequest for a body that is not the platform's shape."""

    async def send(self, client: PlatformClient, address: Mapping[str, Any], text: str) -> None:
        """One platform API call; raises connectors.outbound.DeliveryFailed."""


@runtime_checkable
class SubscriptionHandshake(Protocol):
    def verify_subscription(self, query: Mapping[str, str]) -> str:
        """A GET the platform sends when the webhook is set up; returns the text to echo."""


def reply_text(reply: Reply) -> str:
    """A reply as one chat message: the answer, then where it came from (chat apps have no side panel)."""
    if not reply.sources or reply.kind == "clarify":
        return reply.text  # a clarifying question names each candidate's section in its own line
    source = reply.sources[0]
    where = " › ".join(part for part in (source.title, *source.title_path[1:]) if part)
    return f"{reply.text}\n\nSource: {where}"


def split_text(text: str, limit: int) -> list[str]:
    """Split a long reply at paragraph, sentence or word boundaries into parts of at most `limit` characters."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n\n")
        if cut < limit // 2:
            cut = max((m.end() for m in re.finditer(r"[.!?。！？]\s", window)), default=-1)
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def require_str(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{where}.{key} must be a non-empty string")
    return value
