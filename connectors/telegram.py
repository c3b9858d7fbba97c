"""Telegram Bot API: updates arrive by webhook (setWebhook with a secret_token), replies go out with sendMessage."""

from __future__ import annotations

from typing import Any, Mapping

from connectors.base import InboundMessage, WebhookResult
from connectors.outbound import DeliveryFailed, PlatformClient
from connectors.signatures import SecretTokenVerifier
from core.errors import BadRequest

# Commands Telegram clients send on their own: opening the bot sends /start.
GREETING_COMMANDS = {"/start", "/help"}


class TelegramConnector:
    name = "telegram"
    path = "/webhooks/telegram"
    text_limit = 4096

    def __init__(self, bot_token: str, secret_token: str, api_url: str = "https://api.telegram.org") -> None:
        self.verifier = SecretTokenVerifier(secret_token)
        self._send_url = f"{api_url.rstrip('/')}/bot{bot_token}/sendMessage"

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        self.verifier.verify(headers, body)

    def parse(self, update: dict[str, Any]) -> WebhookResult:
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BadRequest('"update_id" must be an integer')
        message = update.get("message")
        if not isinstance(message, dict):
            # edited_message, callback_query, my_chat_member...: nothing a customer asked.
            kinds = ", ".join(k for k in update if k != "update_id") or "nothing"
            return WebhookResult(ignored=(f"update {update_id} carries {kinds}, not a message",))
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            return WebhookResult(ignored=(f"update {update_id} is not a text message",))
        chat = message.get("chat")
        if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
            raise BadRequest("message.chat.id must be an integer")
        author = message.get("from") if isinstance(message.get("from"), dict) else {}
        if author.get("is_bot"):
            return WebhookResult(ignored=(f"update {update_id} comes from a bot",))
        private = chat.get("type") == "private"
        # A private chat is one customer; in a group each member gets their own conversation.
        sender = str(chat["id"]) if private else f"{chat['id']}/{author.get('id', 'unknown')}"
        command = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
        if command in GREETING_COMMANDS:
            text = "hello"
        address: dict[str, Any] = {"chat_id": chat["id"]}
        if not private and isinstance(message.get("message_id"), int):
            address["reply_to_message_id"] = message["message_id"]
        return WebhookResult(messages=(InboundMessage(self.name, sender, text, (f"update:{update_id}",), address),))

    async def send(self, client: PlatformClient, address: Mapping[str, Any], text: str) -> None:
        payload: dict[str, Any] = {"chat_id": address["chat_id"], "text": text}
        if "reply_to_message_id" in address:
            payload["reply_parameters"] = {"message_id": address["reply_to_message_id"], "allow_sending_without_reply": True}
        answer = await client.post_json("telegram sendMessage", self._send_url, payload)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise DeliveryFailed(f"telegram sendMessage: unexpected answer {str(answer)[:200]}", retryable=False)
